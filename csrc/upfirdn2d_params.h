// Problem description of one upfirdn2d call, shared by the CPU and CUDA kernels (torch-free).
//
// Semantics (NVlabs StyleGAN2-ADA): insert up−1 zeros between input samples, pad by
// (pad_x0, pad_x1, pad_y0, pad_y1) (negative values crop), convolve with the filter, keep every
// down-th sample, multiply by gain. The kernels never touch the inserted zeros: each output
// sample only visits the filter taps that land on real input samples (a polyphase loop).
#pragma once
#include <algorithm>
#include <cstdint>

namespace atu {

struct Upfirdn2dParams {
  int64_t batch = 0, channels = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  // Element strides of x and y in (n, c, h, w) order: contiguous and channels_last both fit.
  int64_t x_stride[4] = {0, 0, 0, 0};
  int64_t y_stride[4] = {0, 0, 0, 0};
  int up_x = 1, up_y = 1, down_x = 1, down_y = 1;
  int pad_x0 = 0, pad_y0 = 0;  // the far-side paddings only decide out_w / out_h
  // The filter is [f_h, f_w]; `separable` is the kernels' business (see cpu/upfirdn2d.h).
  int f_h = 1, f_w = 1;
  bool separable = false;
  // The filter the kernels receive is already in correlation order (flipped by the caller when
  // the user asked for true convolution), so they never need to know about flip_filter.
  double gain = 1.0;
};

// For output index o along one axis: the first filter tap that lands on a real input sample,
// that sample's index and how many taps (stepping by `up` taps / 1 sample) stay inside the input.
struct AxisWindow {
  int64_t in0;
  int tap0;
  int count;
};

// Output sample o reads upsampled position u = o·down − pad0 + t for tap t; u is a real sample
// when u ≥ 0, u % up == 0 and u / up < in_size.
inline AxisWindow axis_window(int64_t o, int64_t in_size, int up, int down, int pad0, int taps) {
  const int64_t base = o * down - pad0;
  int64_t t0 = base < 0 ? -base : 0;
  const int64_t rem = (base + t0) % up;
  if (rem != 0) t0 += up - rem;
  const int64_t in0 = (base + t0) / up;
  int64_t count = t0 < taps ? (taps - t0 + up - 1) / up : 0;
  count = std::max<int64_t>(0, std::min<int64_t>(count, in_size - in0));
  return {in0, static_cast<int>(t0), static_cast<int>(count)};
}

}  // namespace atu
