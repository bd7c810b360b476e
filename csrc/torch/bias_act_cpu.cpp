// CPU registrations of the fused bias + activation ops (schemas in schemas.cpp). The CUDA
// registrations are in bias_act_cuda.cpp; fake kernels and autograd in python/atu_ext/bias_act.py.
#include "cpu/bias_act.h"
#include "torch/bias_act_args.h"

namespace atu {
namespace {

Tensor bias_act_cpu(Tensor x, std::optional<Tensor> b, int64_t dim, std::string act, double alpha,
                    double gain, std::optional<double> clamp) {
  BiasActCall call(nullptr, x, b, dim, act, alpha, gain, clamp, 0);
  cpu::bias_act(call.args());
  return call.out();
}

Tensor bias_act_grad_cpu(Tensor dy, Tensor x, std::optional<Tensor> b, int64_t dim, std::string act,
                         double alpha, double gain, std::optional<double> clamp, int64_t order) {
  if (order < 1) fail_value("atu::bias_act_grad: order must be >= 1, got ", order);
  BiasActCall call(&dy, x, b, dim, act, alpha, gain, clamp, order);
  cpu::bias_act(call.args());
  return call.out();
}

Tensor bias_act_grad_from_output_cpu(Tensor dy, Tensor y, std::string act, double alpha, double gain,
                                     std::optional<double> clamp) {
  BiasActCall call(&dy, y, std::nullopt, 0, act, alpha, gain, clamp, bias_act::kOrderFromOutput);
  cpu::bias_act(call.args());
  return call.out();
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CPU, m) {
  m.impl("bias_act", TORCH_BOX(&bias_act_cpu));
  m.impl("bias_act_grad", TORCH_BOX(&bias_act_grad_cpu));
  m.impl("bias_act_grad_from_output", TORCH_BOX(&bias_act_grad_from_output_cpu));
}

}  // namespace atu
