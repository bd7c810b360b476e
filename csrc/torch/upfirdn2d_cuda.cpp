// CUDA registration of atu::upfirdn2d: same schema and semantics as the CPU one
// (upfirdn2d_cpu.cpp; schema in schemas.cpp), running csrc/cuda/upfirdn2d.cu on the current stream of x's device.
// x and the output keep their layout (contiguous or channels_last): the kernel takes strides.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <stdexcept>

#include "cuda/upfirdn2d.h"
#include "torch/cuda_data_type.h"
#include "torch/upfirdn2d_args.h"

namespace atu {
namespace {

at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, at::IntArrayRef up,
                          at::IntArrayRef down, at::IntArrayRef padding, bool flip_filter,
                          double gain) {
  TORCH_CHECK(x.is_cuda(), "atu::upfirdn2d (CUDA): x is on ", x.device());
  const c10::cuda::CUDAGuard guard(x.device());
  Upfirdn2dParams p = upfirdn2d_params(x, f, up, down, padding, gain);
  // The kernel applies a 2-D filter: a separable 1-D one becomes f ⊗ f (in accumulation precision).
  const at::ScalarType acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor fc = correlation_filter(f.to(x.device()), flip_filter, acc);
  if (fc.dim() == 1) fc = at::outer(fc, fc).contiguous();
  p.separable = false;
  // Arbitrary strides are fine for the kernel, but not overlapping or negative ones.
  const at::MemoryFormat format = upfirdn2d_out_format(x);
  const at::Tensor xs = x.is_non_overlapping_and_dense() ? x : x.contiguous(format);
  at::Tensor y = at::empty({p.batch, p.channels, p.out_h, p.out_w}, x.options().memory_format(format));
  for (int d = 0; d < 4; ++d) {
    p.x_stride[d] = xs.stride(d);
    p.y_stride[d] = y.stride(d);
  }
  try {
    cuda::upfirdn2d(p, cuda_data_type(x.scalar_type(), "atu::upfirdn2d"), xs.const_data_ptr(), fc.const_data_ptr(),
                    y.mutable_data_ptr(), at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, e.what());
  }
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CUDA, m) { m.impl("upfirdn2d", &upfirdn2d_cuda); }

}  // namespace atu
