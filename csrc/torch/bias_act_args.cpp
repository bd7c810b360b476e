#include "torch/bias_act_args.h"

#include <algorithm>

#include "torch/layout.h"

namespace atu {
namespace {

bias_act::Act parse_act(const std::string& name) {
  for (int i = 0; i < bias_act::kNumActivations; ++i) {
    if (name == bias_act::kActivationNames[i]) return static_cast<bias_act::Act>(i);
  }
  fail_value("atu::bias_act: unknown act '", name, "'");
}

}  // namespace

BiasActCall::BiasActCall(const Tensor* dy, const Tensor& x, const std::optional<Tensor>& b,
                         int64_t dim, const std::string& act, double alpha, double gain,
                         std::optional<double> clamp, int64_t order)
    : x_(x), out_(torch::stable::empty_like(x)) {
  const ScalarType st = x.scalar_type();
  args_.dtype = to_dtype(st, "atu::bias_act: x");
  if (order < bias_act::kOrderFromOutput || order > bias_act::kMaxOrder) {
    fail_value("atu::bias_act_grad: order must be in 1..", bias_act::kMaxOrder, ", got ", order);
  }
  if (clamp.has_value() && !(*clamp >= 0)) fail_value("atu::bias_act: clamp must be >= 0, got ", *clamp);

  if (!non_overlapping_and_dense(out_)) fail("atu::bias_act: internal: empty_like gave a layout with gaps");
  x_ = in_layout_of(x, out_);

  args_.act = parse_act(act);
  if (order == bias_act::kOrderFromOutput && (!bias_act::is_piecewise_linear(args_.act) || b.has_value())) {
    fail_value("atu::bias_act_grad_from_output: act must be linear, relu or lrelu, got '", act, "'");
  }
  args_.order = static_cast<int>(order);
  args_.numel = x.numel();
  args_.alpha = alpha;
  args_.gain = gain;
  args_.clamp_on = clamp.has_value();
  args_.clamp = clamp.value_or(0.0);

  if (dy != nullptr) {
    if (dy->sizes() != x.sizes()) {
      fail_value("atu::bias_act_grad: dy has shape ", shape_of(*dy), " but x has shape ", shape_of(x));
    }
    if (dy->scalar_type() != st || dy->device() != x.device()) {
      fail_value("atu::bias_act_grad: dy (", name_of(dy->scalar_type()), ", ", name_of(dy->device()),
                 ") must match x (", name_of(st), ", ", name_of(x.device()), ")");
    }
    dy_ = in_layout_of(*dy, out_);
    args_.dy = dy_->const_data_ptr();
  }

  if (b.has_value()) {
    if (x.dim() < 1) fail_value("atu::bias_act: x must have at least one dim when b is given");
    if (dim < -x.dim() || dim >= x.dim()) {
      fail_value("atu::bias_act: dim ", dim, " is out of range for x with ", x.dim(), " dims");
    }
    if (dim < 0) dim += x.dim();
    if (b->dim() != 1 || b->size(0) != x.size(dim)) {
      fail_value("atu::bias_act: b must have shape [", x.size(dim), "] (x.shape[", dim, "]), got ",
                 shape_of(*b));
    }
    if (b->scalar_type() != st || b->device() != x.device()) {
      fail_value("atu::bias_act: b (", name_of(b->scalar_type()), ", ", name_of(b->device()),
                 ") must match x (", name_of(st), ", ", name_of(x.device()), ")");
    }
    b_ = torch::stable::contiguous(*b);
    args_.bias = b_->const_data_ptr();
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
