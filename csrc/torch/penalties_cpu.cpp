// CPU registrations of the penalty ops.
#include "cpu/penalties.h"
#include "torch/penalties_args.h"

namespace atu {
namespace {

Tensor value_tensor(double value, const Tensor& like) {
  Tensor out = torch::stable::empty({}, value_dtype(like.scalar_type()), std::nullopt, like.device());
  return torch::stable::fill_(out, value);
}

double scalar_of(const Tensor& scale) {
  if (scale.numel() != 1) fail_value("atu: scale must have one element, got ", scale.numel());
  const Tensor s = torch::stable::to(scale, ScalarType::Double, std::nullopt, Device(torch::headeronly::DeviceType::CPU));
  return *torch::stable::contiguous(s).const_data_ptr<double>();
}

Tensor sq_dist(TensorList params, TensorList refs, int64_t num_refs, std::string reduction) {
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, reduction));
  return value_tensor(cpu::sq_dist(b.plan(), 0.0, false), b.first_param());
}

Tensor sq_dist_value_and_grad_(TensorList grads, TensorList params, TensorList refs, int64_t num_refs,
                               std::string reduction, Tensor scale, bool accumulate) {
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, reduction));
  b.set_grads(grads, accumulate);
  const double value = cpu::sq_dist(b.plan(), scalar_of(scale), accumulate);
  b.finish();
  return value_tensor(value, b.first_param());
}

TensorList sq_dist_backward(Tensor grad, TensorList params, TensorList refs, int64_t num_refs,
                            std::string reduction) {
  return gradient_of<&sq_dist_value_and_grad_>(grad, params, refs, num_refs, reduction);
}

Tensor ewc_penalty(TensorList params, TensorList anchor, TensorList fisher, double lam) {
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  return value_tensor(cpu::ewc(b.plan(), 0.0, false), b.first_param());
}

Tensor ewc_value_and_grad_(TensorList grads, TensorList params, TensorList anchor, TensorList fisher,
                           double lam, Tensor scale, bool accumulate) {
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  b.set_grads(grads, accumulate);
  const double value = cpu::ewc(b.plan(), scalar_of(scale), accumulate);
  b.finish();
  return value_tensor(value, b.first_param());
}

TensorList ewc_penalty_backward(Tensor grad, TensorList params, TensorList anchor, TensorList fisher,
                                double lam) {
  return gradient_of<&ewc_value_and_grad_>(grad, params, anchor, fisher, lam);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CPU, m) { ATU_IMPL_PENALTY_OPS(m); }

}  // namespace atu
