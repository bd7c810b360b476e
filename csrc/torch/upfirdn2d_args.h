// Turning the arguments of atu::upfirdn2d into an Upfirdn2dParams, shared by the CPU and CUDA
// registrations. Python (python/atu_ext/upfirdn2d.py) has already validated everything with readable
// messages; the checks here only guard direct torch.ops.atu.upfirdn2d calls.
#pragma once
#include <torch/headeronly/core/MemoryFormat.h>

#include <vector>

#include "torch/layout.h"
#include "upfirdn2d_params.h"

namespace atu {

using torch::headeronly::MemoryFormat;

// Output layout follows x: channels_last in, channels_last out; anything else gives contiguous.
// python/atu_ext/upfirdn2d.py (the fake kernel) applies the same rule.
inline MemoryFormat upfirdn2d_out_format(const Tensor& x) {
  return !x.is_contiguous() && channels_last_contiguous(x) ? MemoryFormat::ChannelsLast
                                                           : MemoryFormat::Contiguous;
}

inline Upfirdn2dParams upfirdn2d_params(const Tensor& x, const Tensor& f, const std::vector<int64_t>& up,
                                        const std::vector<int64_t>& down, const std::vector<int64_t>& padding,
                                        double gain) {
  if (x.dim() != 4) fail_value("atu::upfirdn2d: x must be [N, C, H, W], got ", shape_of(x));
  if (f.dim() != 1 && f.dim() != 2) fail_value("atu::upfirdn2d: f must be 1-D or 2-D, got ", shape_of(f));
  if (up.size() != 2 || down.size() != 2 || padding.size() != 4) {
    fail_value("atu::upfirdn2d: up, down must be [x, y] and padding [x0, x1, y0, y1]");
  }
  if (up[0] < 1 || up[1] < 1 || down[0] < 1 || down[1] < 1) fail_value("atu::upfirdn2d: up and down must be >= 1");
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
  if (p.f_w < 1 || p.f_h < 1) fail_value("atu::upfirdn2d: f is empty");
  const int64_t span_w = p.in_w * p.up_x + padding[0] + padding[1] - p.f_w;
  const int64_t span_h = p.in_h * p.up_y + padding[2] + padding[3] - p.f_h;
  if (span_w < 0 || span_h < 0) fail_value("atu::upfirdn2d: the filter is larger than the upsampled, padded input");
  p.out_w = span_w / p.down_x + 1;
  p.out_h = span_h / p.down_y + 1;
  p.gain = gain;
  return p;
}

}  // namespace atu
