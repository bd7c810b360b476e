// CPU registration of atu::modulate_weight (schema in schemas.cpp); CUDA in modulate_cuda.cpp, fake
// kernel and autograd in python/atu_ext/modulated_conv.py.
#include "cpu/modulate.h"
#include "torch/modulate_args.h"

namespace atu {
namespace {

template <class T>
void run(const ModulateParams& p, const Tensor& weight, const Tensor& styles, Tensor& w, Tensor& d) {
  cpu::modulate(p, torch::stable::contiguous(weight).const_data_ptr<T>(),
                torch::stable::contiguous(styles).const_data_ptr<T>(), w.mutable_data_ptr<T>(),
                d.mutable_data_ptr<T>());
}

std::tuple<Tensor, Tensor> modulate_weight_cpu(Tensor weight, Tensor styles, bool demodulate, double eps) {
  const ScalarType st = weight.scalar_type();
  const ModulateParams p = modulate_params(weight, styles, demodulate, eps);
  if (is_reduced_float(st)) {
    // float16/bfloat16: computed in float32 (the sums of squares would lose the demodulation's
    // precision in 8 or 11 bits) and rounded once, as the CUDA kernel accumulates in float32.
    auto [w, d] = modulate_weight_cpu(cast(weight, ScalarType::Float), cast(styles, ScalarType::Float),
                                      demodulate, eps);
    return {cast(w, st), cast(d, st)};
  }
  if (st != ScalarType::Float && st != ScalarType::Double) {
    fail_value("atu::modulate_weight: expected a floating weight (float32, float64, float16 or bfloat16), got ",
               name_of(st));
  }
  auto [w, d] = modulate_outputs(weight, p);
  if (st == ScalarType::Float) {
    run<float>(p, weight, styles, w, d);
  } else {
    run<double>(p, weight, styles, w, d);
  }
  return {w, d};
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CPU, m) { m.impl("modulate_weight", TORCH_BOX(&modulate_weight_cpu)); }

}  // namespace atu
