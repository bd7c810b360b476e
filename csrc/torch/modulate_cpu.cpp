// CPU registration of atu::modulate_weight (schema in schemas.cpp); CUDA in modulate_cuda.cpp, fake
// kernel and autograd in python/atu_ext/modulated_conv.py.
#include <torch/library.h>

#include "cpu/modulate.h"
#include "torch/modulate_args.h"

namespace atu {
namespace {

std::tuple<at::Tensor, at::Tensor> modulate_weight_cpu(const at::Tensor& weight, const at::Tensor& styles,
                                                       bool demodulate, double eps) {
  TORCH_CHECK(weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kDouble,
              "atu::modulate_weight: the CPU kernel supports float32 and float64, got ", weight.scalar_type());
  const ModulateParams p = modulate_params(weight, styles, demodulate, eps);
  const at::Tensor wc = weight.contiguous(), sc = styles.contiguous();
  auto [w, d] = modulate_outputs(weight, p);
  if (weight.scalar_type() == at::kFloat) {
    cpu::modulate(p, wc.const_data_ptr<float>(), sc.const_data_ptr<float>(), w.mutable_data_ptr<float>(),
                  d.mutable_data_ptr<float>());
  } else {
    cpu::modulate(p, wc.const_data_ptr<double>(), sc.const_data_ptr<double>(), w.mutable_data_ptr<double>(),
                  d.mutable_data_ptr<double>());
  }
  return {w, d};
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CPU, m) { m.impl("modulate_weight", &modulate_weight_cpu); }

}  // namespace atu
