// CPU registrations of the penalty ops.
#include <torch/library.h>

#include "cpu/penalties.h"
#include "torch/penalties_args.h"

namespace atu {
namespace {

at::Tensor value_tensor(double value, const at::Tensor& like) {
  return at::scalar_tensor(value, like.options().dtype(value_dtype(like.scalar_type())));
}

double scalar_of(const at::Tensor& scale) {
  TORCH_CHECK(scale.numel() == 1, "atu: scale must have one element, got ", scale.numel());
  return scale.item<double>();
}

at::Tensor sq_dist(at::TensorList params, at::TensorList refs, int64_t num_refs,
                   c10::string_view reduction) {
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, std::string(reduction)));
  return value_tensor(cpu::sq_dist(b.plan(), 0.0, false), b.first_param());
}

at::Tensor sq_dist_value_and_grad_(at::TensorList grads, at::TensorList params,
                                   at::TensorList refs, int64_t num_refs,
                                   c10::string_view reduction, const at::Tensor& scale,
                                   bool accumulate) {
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, std::string(reduction)));
  b.set_grads(grads, accumulate);
  const double value = cpu::sq_dist(b.plan(), scalar_of(scale), accumulate);
  b.finish();
  return value_tensor(value, b.first_param());
}

std::vector<at::Tensor> sq_dist_backward(const at::Tensor& grad, at::TensorList params,
                                         at::TensorList refs, int64_t num_refs,
                                         c10::string_view reduction) {
  std::vector<at::Tensor> out = fresh_like(params);
  sq_dist_value_and_grad_(out, params, refs, num_refs, reduction, grad, false);
  return out;
}

at::Tensor ewc_penalty(at::TensorList params, at::TensorList anchor, at::TensorList fisher,
                       double lam) {
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  return value_tensor(cpu::ewc(b.plan(), 0.0, false), b.first_param());
}

at::Tensor ewc_value_and_grad_(at::TensorList grads, at::TensorList params, at::TensorList anchor,
                               at::TensorList fisher, double lam, const at::Tensor& scale,
                               bool accumulate) {
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  b.set_grads(grads, accumulate);
  const double value = cpu::ewc(b.plan(), scalar_of(scale), accumulate);
  b.finish();
  return value_tensor(value, b.first_param());
}

std::vector<at::Tensor> ewc_penalty_backward(const at::Tensor& grad, at::TensorList params,
                                             at::TensorList anchor, at::TensorList fisher,
                                             double lam) {
  std::vector<at::Tensor> out = fresh_like(params);
  ewc_value_and_grad_(out, params, anchor, fisher, lam, grad, false);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CPU, m) {
  m.impl("sq_dist", &sq_dist);
  m.impl("sq_dist_backward", &sq_dist_backward);
  m.impl("sq_dist_value_and_grad_", &sq_dist_value_and_grad_);
  m.impl("ewc_penalty", &ewc_penalty);
  m.impl("ewc_penalty_backward", &ewc_penalty_backward);
  m.impl("ewc_value_and_grad_", &ewc_value_and_grad_);
}

}  // namespace atu
