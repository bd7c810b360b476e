// Turning the arguments of atu::upfirdn2d into an Upfirdn2dParams, shared by the CPU and CUDA
// registrations. Python (python/atu_ext/upfirdn2d.py) has already validated everything with readable
// messages; the checks here only guard direct torch.ops.atu.upfirdn2d calls.
#pragma once
#include <ATen/ATen.h>

#include "upfirdn2d_params.h"

namespace atu {

// Output layout follows x: channels_last in, channels_last out; anything else gives contiguous.
// python/atu_ext/_registrations (the fake kernel) applies the same rule.
inline at::MemoryFormat upfirdn2d_out_format(const at::Tensor& x) {
  const bool channels_last =
      !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
  return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

// The filter in correlation order (what the kernels apply), as a contiguous `dtype` tensor.
inline at::Tensor correlation_filter(const at::Tensor& f, bool flip_filter, at::ScalarType dtype) {
  at::Tensor g = f.to(dtype);
  if (!flip_filter) g = f.dim() == 1 ? g.flip({0}) : g.flip({0, 1});
  return g.contiguous();
}

inline Upfirdn2dParams upfirdn2d_params(const at::Tensor& x, const at::Tensor& f,
                                        at::IntArrayRef up, at::IntArrayRef down,
                                        at::IntArrayRef padding, double gain) {
  TORCH_CHECK(x.dim() == 4, "atu::upfirdn2d: x must be [N, C, H, W], got ", x.sizes());
  TORCH_CHECK(f.dim() == 1 || f.dim() == 2, "atu::upfirdn2d: f must be 1-D or 2-D, got ", f.sizes());
  TORCH_CHECK(up.size() == 2 && down.size() == 2 && padding.size() == 4,
              "atu::upfirdn2d: up, down must be [x, y] and padding [x0, x1, y0, y1]");
  TORCH_CHECK(up[0] >= 1 && up[1] >= 1 && down[0] >= 1 && down[1] >= 1,
              "atu::upfirdn2d: up and down must be >= 1");
  Upfirdn2dParams p;
  p.batch = x.size(0);
  p.channels = x.size(1);
  p.in_h = x.size(2);
  p.in_w = x.size(3);
  p.up_x = static_cast<int>(up[0]);
  p.up_y = static_cast<int>(up[1]);
  p.down_x = static_cast<int>(down[0]);
  p.down_y = static_cast<int>(down[1]);
  p.pad_x0 = static_cast<int>(padding[0]);
  p.pad_y0 = static_cast<int>(padding[2]);
  p.separable = f.dim() == 1;
  p.f_w = static_cast<int>(f.size(-1));
  p.f_h = static_cast<int>(f.size(0));
  TORCH_CHECK(p.f_w >= 1 && p.f_h >= 1, "atu::upfirdn2d: f is empty");
  const int64_t span_w = p.in_w * p.up_x + padding[0] + padding[1] - p.f_w;
  const int64_t span_h = p.in_h * p.up_y + padding[2] + padding[3] - p.f_h;
  TORCH_CHECK(span_w >= 0 && span_h >= 0,
              "atu::upfirdn2d: the filter is larger than the upsampled, padded input");
  p.out_w = span_w / p.down_x + 1;
  p.out_h = span_h / p.down_y + 1;
  p.gain = gain;
  return p;
}

}  // namespace atu
