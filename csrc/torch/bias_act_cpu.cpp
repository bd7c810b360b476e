// CPU registrations of the fused bias + activation ops (schemas in schemas.cpp). The CUDA
// registrations are in bias_act_cuda.cpp; fake kernels and autograd in python/atu_ext/bias_act.py.
#include <torch/library.h>

#include "cpu/bias_act.h"
#include "torch/bias_act_args.h"

namespace atu {
namespace {

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        c10::string_view act, double alpha, double gain,
                        std::optional<double> clamp) {
  BiasActCall call(nullptr, x, b, dim, act, alpha, gain, clamp, 0);
  cpu::bias_act(call.args());
  return call.out();
}

at::Tensor bias_act_grad_cpu(const at::Tensor& dy, const at::Tensor& x,
                             const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                             double alpha, double gain, std::optional<double> clamp, int64_t order) {
  TORCH_CHECK_VALUE(order >= 1, "atu::bias_act_grad: order must be >= 1, got ", order);
  BiasActCall call(&dy, x, b, dim, act, alpha, gain, clamp, order);
  cpu::bias_act(call.args());
  return call.out();
}

at::Tensor bias_act_grad_from_output_cpu(const at::Tensor& dy, const at::Tensor& y,
                                         c10::string_view act, double alpha, double gain,
                                         std::optional<double> clamp) {
  BiasActCall call(&dy, y, std::nullopt, 0, act, alpha, gain, clamp, bias_act::kOrderFromOutput);
  cpu::bias_act(call.args());
  return call.out();
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_grad", &bias_act_grad_cpu);
  m.impl("bias_act_grad_from_output", &bias_act_grad_from_output_cpu);
}

}  // namespace atu
