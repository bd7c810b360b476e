// Schemas of the fused bias + activation ops and their CPU registrations. The CUDA registrations
// are in bias_act_cuda.cpp; fake kernels and autograd are registered from python/atu_ext/bias_act.py.
#include <torch/library.h>

#include "cpu/bias_act.h"
#include "torch/bias_act_call.h"

TORCH_LIBRARY_FRAGMENT(atu, m) {
  // y = clamp(gain · act(x + b broadcast along dim), ±clamp); b and clamp optional.
  m.def("bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float? clamp) "
        "-> Tensor");
  // dy · gain · act⁽ᵒʳᵈᵉʳ⁾(x + b) where the forward was not clamped, 0 where it was; order 1..3.
  // Order 1 is the gradient of bias_act w.r.t. x; higher orders are that gradient's own gradients.
  m.def("bias_act_grad(Tensor dy, Tensor x, Tensor? b, int dim, str act, float alpha, float gain, "
        "float? clamp, int order) -> Tensor");
  // Order 1 from the forward's output y (linear, relu, lrelu with gain > 0, alpha >= 0): the same
  // gradient as bias_act_grad(dy, x, b, ..., 1) without keeping x alive for the backward.
  m.def("bias_act_grad_from_output(Tensor dy, Tensor y, str act, float alpha, float gain, "
        "float? clamp) -> Tensor");
}

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
