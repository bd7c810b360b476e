#include "torch/penalties_args.h"

namespace atu {

std::vector<double> reduction_weights(const at::TensorList& params, const std::string& reduction) {
  const int64_t count = static_cast<int64_t>(params.size());
  std::vector<double> w(count, 1.0);
  if (reduction == "sum") return w;
  if (reduction == "mean") {
    int64_t total = 0;
    for (const auto& p : params) total += p.numel();
    TORCH_CHECK(total > 0, "atu: reduction='mean' needs at least one element in params");
    std::fill(w.begin(), w.end(), 1.0 / static_cast<double>(total));
    return w;
  }
  if (reduction == "tensor_mean") {
    // Mean over the tensors that have elements of each one's mean: an empty tensor has no mean
    // and is left out of the count.
    int64_t nonempty = 0;
    for (const auto& p : params) nonempty += p.numel() > 0;
    TORCH_CHECK(nonempty > 0, "atu: reduction='tensor_mean' needs a tensor with elements");
    for (int64_t t = 0; t < count; ++t) {
      const int64_t n = params[t].numel();
      w[t] = n > 0 ? 1.0 / (static_cast<double>(nonempty) * static_cast<double>(n)) : 0.0;
    }
    return w;
  }
  TORCH_CHECK(false, "atu: reduction must be 'sum', 'mean' or 'tensor_mean', got '", reduction, "'");
}

DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::kFloat32;
    case at::kDouble: return DType::kFloat64;
    case at::kHalf: return DType::kFloat16;
    case at::kBFloat16: return DType::kBFloat16;
    default: TORCH_CHECK(false, "atu: unsupported dtype ", t, " (float32, float64, float16, bfloat16)");
  }
}

at::ScalarType value_dtype(at::ScalarType param_dtype) {
  return param_dtype == at::kDouble ? at::kDouble : at::kFloat;
}

std::vector<double> ewc_weights(at::TensorList params, double lam) {
  return std::vector<double>(params.size(), lam);
}

std::vector<at::Tensor> fresh_like(at::TensorList params) {
  std::vector<at::Tensor> out;
  out.reserve(params.size());
  for (const auto& p : params) out.push_back(at::empty_like(p, at::MemoryFormat::Contiguous));
  return out;
}

namespace {
void check_companion(const at::Tensor& p, const at::Tensor& other, const char* what, size_t t) {
  TORCH_CHECK(other.sizes() == p.sizes(), "atu: ", what, "[", t, "] has shape ", other.sizes(),
              ", params[", t, "] has ", p.sizes());
  TORCH_CHECK(other.scalar_type() == p.scalar_type(), "atu: ", what, "[", t, "] is ",
              other.scalar_type(), ", params[", t, "] is ", p.scalar_type());
  TORCH_CHECK(other.device() == p.device(), "atu: ", what, "[", t, "] is on ", other.device(),
              ", params[", t, "] on ", p.device());
}
}  // namespace

PlanBuilder::PlanBuilder(at::TensorList params, at::TensorList refs, int64_t num_refs,
                         std::vector<double> weights)
    : weights_(std::move(weights)) {
  const size_t count = params.size();
  TORCH_CHECK(count > 0, "atu: params is empty");
  TORCH_CHECK(num_refs >= 1, "atu: num_refs must be >= 1, got ", num_refs);
  TORCH_CHECK(refs.size() == count * static_cast<size_t>(num_refs), "atu: expected ",
              count * num_refs, " reference tensors (", num_refs, " x ", count, "), got ", refs.size());
  TORCH_CHECK(weights_.size() == count, "atu: internal: weights do not match params");
  const at::ScalarType dtype = params[0].scalar_type();
  for (size_t t = 0; t < count; ++t) {
    TORCH_CHECK(params[t].scalar_type() == dtype, "atu: params[", t, "] is ",
                params[t].scalar_type(), ", params[0] is ", dtype);
    TORCH_CHECK(params[t].device() == params[0].device(), "atu: params[", t, "] is on ",
                params[t].device(), ", params[0] on ", params[0].device());
    params_.push_back(params[t].contiguous());
    numel_.push_back(params[t].numel());
    param_ptrs_.push_back(params_.back().data_ptr());
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    check_companion(params[i % count], refs[i], "refs", i);
    refs_.push_back(refs[i].contiguous());
    ref_ptrs_.push_back(refs_.back().data_ptr());
  }
  plan_.num_tensors = static_cast<int64_t>(count);
  plan_.num_refs = num_refs;
  plan_.dtype = to_dtype(dtype);
  plan_.numel = numel_.data();
  plan_.weight = weights_.data();
  plan_.params = param_ptrs_.data();
  plan_.refs = ref_ptrs_.data();
}

void PlanBuilder::set_fisher(at::TensorList fisher) {
  TORCH_CHECK(fisher.size() == params_.size(), "atu: fisher has ", fisher.size(),
              " tensors, params has ", params_.size());
  for (size_t t = 0; t < fisher.size(); ++t) {
    check_companion(params_[t], fisher[t], "fisher", t);
    fisher_.push_back(fisher[t].contiguous());
    fisher_ptrs_.push_back(fisher_.back().data_ptr());
  }
  plan_.fisher = fisher_ptrs_.data();
}

void PlanBuilder::set_grads(at::TensorList grads, bool accumulate) {
  TORCH_CHECK(grads.size() == params_.size(), "atu: grads has ", grads.size(),
              " tensors, params has ", params_.size());
  for (size_t t = 0; t < grads.size(); ++t) {
    check_companion(params_[t], grads[t], "grads", t);
    if (grads[t].is_contiguous()) {
      grads_.push_back(grads[t]);
      grad_targets_.emplace_back();
    } else {
      grads_.push_back(accumulate ? grads[t].contiguous() : at::empty_like(params_[t]));
      grad_targets_.push_back(grads[t]);
    }
    grad_ptrs_.push_back(grads_.back().data_ptr());
  }
  plan_.grads = grad_ptrs_.data();
}

void PlanBuilder::finish() {
  for (size_t t = 0; t < grad_targets_.size(); ++t) {
    if (grad_targets_[t].defined()) grad_targets_[t].copy_(grads_[t]);
  }
}

}  // namespace atu
