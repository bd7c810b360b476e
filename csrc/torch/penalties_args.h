// Tensor lists -> PenaltyPlan: the one place that knows both torch and the kernels' flat view.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "penalties_params.h"
#include "torch/stable.h"

namespace atu {

using TensorList = std::vector<Tensor>;

// Per-tensor factor of each reduction ("sum", "mean", "tensor_mean"); see python/atu_ext/penalties.py.
std::vector<double> reduction_weights(const TensorList& params, const std::string& reduction);

// The dtype of a penalty's value: float64 for float64 inputs, float32 otherwise.
ScalarType value_dtype(ScalarType param_dtype);

// EWC's per-tensor factor: lam for every tensor.
std::vector<double> ewc_weights(const TensorList& params, double lam);

// Uninitialised contiguous tensors like params: the outputs of the *_backward ops.
TensorList fresh_like(const TensorList& params);

// A *_backward op: d(grad · value)/d(params) in fresh tensors, computed by the op's fused
// value_and_grad_(grads, params, rest..., scale, accumulate) with `grad` as the scale.
template <auto ValueAndGrad, typename... Rest>
TensorList gradient_of(const Tensor& grad, const TensorList& params, Rest... rest) {
  TensorList out = fresh_like(params);
  ValueAndGrad(out, params, rest..., grad, false);
  return out;
}

// Owns contiguous views of every input (copies only where an input is not contiguous) and the
// pointer tables the plan points into. Grads that are not contiguous are computed in a
// contiguous buffer and copied back by finish().
class PlanBuilder {
 public:
  PlanBuilder(const TensorList& params, const TensorList& refs, int64_t num_refs,
              std::vector<double> weights);
  void set_fisher(const TensorList& fisher);
  void set_grads(const TensorList& grads, bool accumulate);
  const PenaltyPlan& plan() const { return plan_; }
  const Tensor& first_param() const { return params_.front(); }
  void finish();  // writes back grads that were computed out of place

 private:
  TensorList params_, refs_, fisher_, grads_;
  std::vector<std::optional<Tensor>> grad_targets_;
  std::vector<int64_t> numel_;
  std::vector<double> weights_;
  std::vector<const void*> param_ptrs_, ref_ptrs_, fisher_ptrs_;
  std::vector<void*> grad_ptrs_;
  PenaltyPlan plan_;
};

}  // namespace atu

// Registers one backend's penalty kernels: each backend defines functions of these names in its
// own file, and this one list keeps the two backends' op sets the same.
#define ATU_IMPL_PENALTY_OPS(m)                                       \
  m.impl("sq_dist", TORCH_BOX(&sq_dist));                             \
  m.impl("sq_dist_backward", TORCH_BOX(&sq_dist_backward));           \
  m.impl("sq_dist_value_and_grad_", TORCH_BOX(&sq_dist_value_and_grad_)); \
  m.impl("ewc_penalty", TORCH_BOX(&ewc_penalty));                     \
  m.impl("ewc_penalty_backward", TORCH_BOX(&ewc_penalty_backward));   \
  m.impl("ewc_value_and_grad_", TORCH_BOX(&ewc_value_and_grad_))
