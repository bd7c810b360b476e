// CUDA registration of atu::modulate_weight (schema in schemas.cpp; the same semantics as modulate_cpu.cpp).
#include "cuda/modulate.h"
#include "torch/device_cuda.h"
#include "torch/modulate_args.h"

namespace atu {
namespace {

std::tuple<Tensor, Tensor> modulate_weight_cuda(Tensor weight, Tensor styles, bool demodulate, double eps) {
  const CudaDeviceGuard guard(weight, "atu::modulate_weight");
  const ModulateParams p = modulate_params(weight, styles, demodulate, eps);
  const Tensor wc = torch::stable::contiguous(weight), sc = torch::stable::contiguous(styles);
  const std::tuple<Tensor, Tensor> out = modulate_outputs(weight, p);
  const Tensor& w = std::get<0>(out);
  const Tensor& d = std::get<1>(out);
  run_kernel("atu::modulate_weight", [&] {
    cuda::modulate(p, cuda_data_type(weight.scalar_type(), "atu::modulate_weight"), wc.const_data_ptr(),
                   sc.const_data_ptr(), w.mutable_data_ptr(), d.mutable_data_ptr(), current_stream(weight));
  });
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CUDA, m) { m.impl("modulate_weight", TORCH_BOX(&modulate_weight_cuda)); }

}  // namespace atu
