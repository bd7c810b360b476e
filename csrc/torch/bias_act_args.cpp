#include "torch/bias_act_args.h"

#include <c10/core/WrapDimMinimal.h>

#include <string>

#include "torch/penalties_args.h"  // to_dtype

namespace atu {
namespace {

bias_act::Act parse_act(c10::string_view name) {
  for (int i = 0; i < bias_act::kNumActivations; ++i) {
    if (name == bias_act::kActivationNames[i]) return static_cast<bias_act::Act>(i);
  }
  TORCH_CHECK_VALUE(false, "atu::bias_act: unknown act '", std::string(name), "'");
}

// `t` in the strides of `like` (same shape): itself when it already has them, else a copy.
at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  at::Tensor copy = at::empty_like(like);
  copy.copy_(t);
  return copy;
}

}  // namespace

BiasActCall::BiasActCall(const at::Tensor* dy, const at::Tensor& x,
                         const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                         double alpha, double gain, std::optional<double> clamp, int64_t order) {
  const at::ScalarType st = x.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16,
                   "atu::bias_act: x must be float32, float64, float16 or bfloat16, got ", st);
  TORCH_CHECK_VALUE(order >= bias_act::kOrderFromOutput && order <= bias_act::kMaxOrder,
                    "atu::bias_act_grad: order must be in 1..", bias_act::kMaxOrder, ", got ", order);
  TORCH_CHECK_VALUE(!clamp.has_value() || *clamp >= 0, "atu::bias_act: clamp must be >= 0, got ",
                    clamp.value_or(0.0));

  out_ = at::empty_like(x);
  TORCH_INTERNAL_ASSERT(out_.is_non_overlapping_and_dense());
  x_ = in_layout_of(x, out_);

  args_.dtype = to_dtype(st);
  args_.act = parse_act(act);
  TORCH_CHECK_VALUE(order != bias_act::kOrderFromOutput ||
                        (bias_act::is_piecewise_linear(args_.act) && !b.has_value()),
                    "atu::bias_act_grad_from_output: act must be linear, relu or lrelu, got '",
                    std::string(act), "'");
  args_.order = static_cast<int>(order);
  args_.numel = x.numel();
  args_.alpha = alpha;
  args_.gain = gain;
  args_.clamp_on = clamp.has_value();
  args_.clamp = clamp.value_or(0.0);

  if (dy != nullptr) {
    TORCH_CHECK_VALUE(dy->sizes() == x.sizes(), "atu::bias_act_grad: dy has shape ", dy->sizes(),
                      " but x has shape ", x.sizes());
    TORCH_CHECK_VALUE(dy->scalar_type() == st && dy->device() == x.device(),
                      "atu::bias_act_grad: dy (", dy->scalar_type(), ", ", dy->device(),
                      ") must match x (", st, ", ", x.device(), ")");
    dy_ = in_layout_of(*dy, out_);
    args_.dy = dy_.const_data_ptr();
  }

  if (b.has_value()) {
    TORCH_CHECK_VALUE(x.dim() >= 1, "atu::bias_act: x must have at least one dim when b is given");
    dim = c10::maybe_wrap_dim(dim, x.dim());
    TORCH_CHECK_VALUE(b->dim() == 1 && b->size(0) == x.size(dim), "atu::bias_act: b must have shape [",
                      x.size(dim), "] (x.shape[", dim, "]), got ", b->sizes());
    TORCH_CHECK_VALUE(b->scalar_type() == st && b->device() == x.device(), "atu::bias_act: b (",
                      b->scalar_type(), ", ", b->device(), ") must match x (", st, ", ", x.device(), ")");
    b_ = b->contiguous();
    args_.bias = b_.const_data_ptr();
    args_.channels = x.size(dim);
    // A dense tensor's strides form a mixed radix: (i / stride) % size is the index along dim.
    args_.channel_stride = args_.channels > 1 ? out_.stride(dim) : std::max<int64_t>(x.numel(), 1);
  } else {
    args_.channels = 1;
    args_.channel_stride = std::max<int64_t>(x.numel(), 1);
  }
  args_.x = x_.const_data_ptr();
  args_.out = out_.mutable_data_ptr();
}

}  // namespace atu
