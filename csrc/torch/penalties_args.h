// TensorLists -> PenaltyPlan: the one place that knows both torch and the kernels' flat view.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "penalties_params.h"

namespace atu {

// Per-tensor factor of each reduction ("sum", "mean", "tensor_mean"); see python/atu_ext/penalties.py.
std::vector<double> reduction_weights(const at::TensorList& params, const std::string& reduction);

DType to_dtype(at::ScalarType t);

// The dtype of a penalty's value: float64 for float64 inputs, float32 otherwise.
at::ScalarType value_dtype(at::ScalarType param_dtype);

// EWC's per-tensor factor: lam for every tensor.
std::vector<double> ewc_weights(at::TensorList params, double lam);

// Uninitialised contiguous tensors like params: the outputs of the *_backward ops.
std::vector<at::Tensor> fresh_like(at::TensorList params);

// Owns contiguous views of every input (copies only where an input is not contiguous) and the
// pointer tables the plan points into. Grads that are not contiguous are computed in a
// contiguous buffer and copied back by finish().
class PlanBuilder {
 public:
  PlanBuilder(at::TensorList params, at::TensorList refs, int64_t num_refs,
              std::vector<double> weights);
  void set_fisher(at::TensorList fisher);
  void set_grads(at::TensorList grads, bool accumulate);
  const PenaltyPlan& plan() const { return plan_; }
  const at::Tensor& first_param() const { return params_.front(); }
  void finish();  // writes back grads that were computed out of place

 private:
  std::vector<at::Tensor> params_, refs_, fisher_, grads_, grad_targets_;
  std::vector<int64_t> numel_;
  std::vector<double> weights_;
  std::vector<const void*> param_ptrs_, ref_ptrs_, fisher_ptrs_;
  std::vector<void*> grad_ptrs_;
  PenaltyPlan plan_;
};

}  // namespace atu
