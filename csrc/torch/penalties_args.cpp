#include "torch/penalties_args.h"

#include <algorithm>

namespace atu {

std::vector<double> reduction_weights(const TensorList& params, const std::string& reduction) {
  const int64_t count = static_cast<int64_t>(params.size());
  std::vector<double> w(count, 1.0);
  if (reduction == "sum") return w;
  if (reduction == "mean") {
    int64_t total = 0;
    for (const auto& p : params) total += p.numel();
    if (total <= 0) fail_value("atu: reduction='mean' needs at least one element in params");
    std::fill(w.begin(), w.end(), 1.0 / static_cast<double>(total));
    return w;
  }
  if (reduction == "tensor_mean") {
    // Mean over the tensors that have elements of each one's mean: an empty tensor has no mean
    // and is left out of the count.
    int64_t nonempty = 0;
    for (const auto& p : params) nonempty += p.numel() > 0;
    if (nonempty <= 0) fail_value("atu: reduction='tensor_mean' needs a tensor with elements");
    for (int64_t t = 0; t < count; ++t) {
      const int64_t n = params[t].numel();
      w[t] = n > 0 ? 1.0 / (static_cast<double>(nonempty) * static_cast<double>(n)) : 0.0;
    }
    return w;
  }
  fail_value("atu: reduction must be 'sum', 'mean' or 'tensor_mean', got '", reduction, "'");
}

ScalarType value_dtype(ScalarType param_dtype) {
  return param_dtype == ScalarType::Double ? ScalarType::Double : ScalarType::Float;
}

std::vector<double> ewc_weights(const TensorList& params, double lam) {
  return std::vector<double>(params.size(), lam);
}

TensorList fresh_like(const TensorList& params) {
  TensorList out;
  out.reserve(params.size());
  for (const auto& p : params) out.push_back(torch::stable::empty(p.sizes(), p.scalar_type(), std::nullopt, p.device()));
  return out;
}

namespace {
void check_companion(const Tensor& p, const Tensor& other, const char* what, size_t t) {
  if (other.sizes() != p.sizes()) {
    fail_value("atu: ", what, "[", t, "] has shape ", shape_of(other), ", params[", t, "] has ", shape_of(p));
  }
  if (other.scalar_type() != p.scalar_type()) {
    fail_value("atu: ", what, "[", t, "] is ", name_of(other.scalar_type()), ", params[", t, "] is ",
               name_of(p.scalar_type()));
  }
  if (other.device() != p.device()) {
    fail_value("atu: ", what, "[", t, "] is on ", name_of(other.device()), ", params[", t, "] on ",
               name_of(p.device()));
  }
}
}  // namespace

PlanBuilder::PlanBuilder(const TensorList& params, const TensorList& refs, int64_t num_refs,
                         std::vector<double> weights)
    : weights_(std::move(weights)) {
  const size_t count = params.size();
  if (count == 0) fail_value("atu: params is empty");
  if (num_refs < 1) fail_value("atu: num_refs must be >= 1, got ", num_refs);
  if (refs.size() != count * static_cast<size_t>(num_refs)) {
    fail_value("atu: expected ", count * num_refs, " reference tensors (", num_refs, " x ", count,
               "), got ", refs.size());
  }
  if (weights_.size() != count) fail("atu: internal: weights do not match params");
  const ScalarType dtype = params[0].scalar_type();
  for (size_t t = 0; t < count; ++t) {
    if (params[t].scalar_type() != dtype) {
      fail_value("atu: params[", t, "] is ", name_of(params[t].scalar_type()), ", params[0] is ", name_of(dtype));
    }
    if (params[t].device() != params[0].device()) {
      fail_value("atu: params[", t, "] is on ", name_of(params[t].device()), ", params[0] on ",
                 name_of(params[0].device()));
    }
    params_.push_back(torch::stable::contiguous(params[t]));
    numel_.push_back(params[t].numel());
    param_ptrs_.push_back(params_.back().const_data_ptr());
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    check_companion(params[i % count], refs[i], "refs", i);
    refs_.push_back(torch::stable::contiguous(refs[i]));
    ref_ptrs_.push_back(refs_.back().const_data_ptr());
  }
  plan_.num_tensors = static_cast<int64_t>(count);
  plan_.num_refs = num_refs;
  plan_.dtype = to_dtype(dtype, "atu: params");
  plan_.numel = numel_.data();
  plan_.weight = weights_.data();
  plan_.params = param_ptrs_.data();
  plan_.refs = ref_ptrs_.data();
}

void PlanBuilder::set_fisher(const TensorList& fisher) {
  if (fisher.size() != params_.size()) {
    fail_value("atu: fisher has ", fisher.size(), " tensors, params has ", params_.size());
  }
  for (size_t t = 0; t < fisher.size(); ++t) {
    check_companion(params_[t], fisher[t], "fisher", t);
    fisher_.push_back(torch::stable::contiguous(fisher[t]));
    fisher_ptrs_.push_back(fisher_.back().const_data_ptr());
  }
  plan_.fisher = fisher_ptrs_.data();
}

void PlanBuilder::set_grads(const TensorList& grads, bool accumulate) {
  if (grads.size() != params_.size()) {
    fail_value("atu: grads has ", grads.size(), " tensors, params has ", params_.size());
  }
  for (size_t t = 0; t < grads.size(); ++t) {
    check_companion(params_[t], grads[t], "grads", t);
    if (grads[t].is_contiguous()) {
      grads_.push_back(grads[t]);
      grad_targets_.emplace_back();
    } else {
      grads_.push_back(accumulate ? torch::stable::contiguous(grads[t]) : torch::stable::empty_like(params_[t]));
      grad_targets_.emplace_back(grads[t]);
    }
    grad_ptrs_.push_back(grads_.back().mutable_data_ptr());
  }
  plan_.grads = grad_ptrs_.data();
}

void PlanBuilder::finish() {
  for (size_t t = 0; t < grad_targets_.size(); ++t) {
    if (grad_targets_[t].has_value()) torch::stable::copy_(*grad_targets_[t], grads_[t]);
  }
}

}  // namespace atu
