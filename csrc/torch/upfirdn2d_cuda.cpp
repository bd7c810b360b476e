// CUDA registration of atu::upfirdn2d: same schema and semantics as the CPU one
// (upfirdn2d_cpu.cpp; schema in schemas.cpp), running csrc/cuda/upfirdn2d.cu on the current stream of x's device.
// x and the output keep their layout (contiguous or channels_last): the kernel takes strides.
#include <vector>

#include "cuda/upfirdn2d.h"
#include "torch/device_cuda.h"
#include "torch/upfirdn2d_args.h"

namespace atu {
namespace {

// The 2-D filter the kernel applies, in correlation order and accumulation precision, on x's
// device: f flipped unless flip_filter, and a separable 1-D f as f ⊗ f. Device ops only, so the
// host never waits for a filter that lives on the GPU.
Tensor device_filter(const Tensor& f, bool flip_filter, ScalarType acc, const Device& device) {
  Tensor g = torch::stable::to(f, acc, std::nullopt, device);
  if (!flip_filter) {
    g = call_aten("aten::flip", "", g, f.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 1});
  }
  if (g.dim() == 1) g = call_aten("aten::outer", "", g, g);
  return torch::stable::contiguous(g);
}

Tensor upfirdn2d_cuda(Tensor x, Tensor f, std::vector<int64_t> up, std::vector<int64_t> down,
                      std::vector<int64_t> padding, bool flip_filter, double gain) {
  const CudaDeviceGuard guard(x, "atu::upfirdn2d");
  Upfirdn2dParams p = upfirdn2d_params(x, f, up, down, padding, gain);
  const ScalarType acc = x.scalar_type() == ScalarType::Double ? ScalarType::Double : ScalarType::Float;
  const Tensor fc = device_filter(f, flip_filter, acc, x.device());
  p.separable = false;
  // Arbitrary strides are fine for the kernel, but not overlapping or negative ones.
  const MemoryFormat format = upfirdn2d_out_format(x);
  const Tensor xs = non_overlapping_and_dense(x) ? x : torch::stable::contiguous(x, format);
  const Tensor y = torch::stable::empty({p.batch, p.channels, p.out_h, p.out_w}, x.scalar_type(), std::nullopt,
                                        x.device(), std::nullopt, format);
  for (int d = 0; d < 4; ++d) {
    p.x_stride[d] = xs.stride(d);
    p.y_stride[d] = y.stride(d);
  }
  run_kernel("atu::upfirdn2d", [&] {
    cuda::upfirdn2d(p, cuda_data_type(x.scalar_type(), "atu::upfirdn2d"), xs.const_data_ptr(), fc.const_data_ptr(),
                    y.mutable_data_ptr(), current_stream(x));
  });
  return y;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CUDA, m) { m.impl("upfirdn2d", TORCH_BOX(&upfirdn2d_cuda)); }

}  // namespace atu
