// CUDA registration of atu::modulate_weight (schema in schemas.cpp; the same semantics as modulate_cpu.cpp).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <stdexcept>

#include "cuda/modulate.h"
#include "torch/cuda_data_type.h"
#include "torch/modulate_args.h"

namespace atu {
namespace {

std::tuple<at::Tensor, at::Tensor> modulate_weight_cuda(const at::Tensor& weight, const at::Tensor& styles,
                                                        bool demodulate, double eps) {
  TORCH_CHECK(weight.is_cuda(), "atu::modulate_weight (CUDA): weight is on ", weight.device());
  const c10::cuda::CUDAGuard guard(weight.device());
  const ModulateParams p = modulate_params(weight, styles, demodulate, eps);
  const at::Tensor wc = weight.contiguous(), sc = styles.contiguous();
  auto [w, d] = modulate_outputs(weight, p);
  try {
    cuda::modulate(p, cuda_data_type(weight.scalar_type(), "atu::modulate_weight"), wc.const_data_ptr(),
                   sc.const_data_ptr(), w.mutable_data_ptr(), d.mutable_data_ptr(),
                   at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, e.what());
  }
  return {w, d};
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CUDA, m) { m.impl("modulate_weight", &modulate_weight_cuda); }

}  // namespace atu
