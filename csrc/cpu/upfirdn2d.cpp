// CPU upfirdn2d: polyphase loops over real input samples only (inserted zeros are never
// multiplied), one (n, c) plane per parallel task.
//
// A separable (1-D) filter runs as two passes, horizontal into a per-task row buffer and then
// vertical: f_w + f_h multiplications per output instead of f_w·f_h. The vertical pass and the
// 2-D filter's accumulation run along whole output rows so the compiler can vectorise them.
#include "cpu/upfirdn2d.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace atu::cpu {
namespace {

std::vector<AxisWindow> windows(int64_t out_size, int64_t in_size, int up, int down, int pad0,
                                int taps) {
  std::vector<AxisWindow> w(static_cast<size_t>(out_size));
  for (int64_t o = 0; o < out_size; ++o) w[o] = axis_window(o, in_size, up, down, pad0, taps);
  return w;
}

// out[o] = Σ_j f[tap0 + j·up] · row[in0 + j] over the window of each output o of one row.
template <typename T>
void filter_row(const T* row, const T* f, int up, const std::vector<AxisWindow>& wx, T* out) {
  const int64_t out_w = static_cast<int64_t>(wx.size());
  for (int64_t o = 0; o < out_w; ++o) {
    const AxisWindow w = wx[o];
    const T* taps = f + w.tap0;
    const T* xs = row + w.in0;
    T acc = 0;
    for (int j = 0; j < w.count; ++j) acc += taps[j * up] * xs[j];
    out[o] = acc;
  }
}

template <typename T>
struct PlaneJob {
  const Upfirdn2dParams& p;
  const T* f;
  std::vector<AxisWindow> wx, wy;

  PlaneJob(const Upfirdn2dParams& params, const T* filter)
      : p(params),
        f(filter),
        wx(windows(params.out_w, params.in_w, params.up_x, params.down_x, params.pad_x0, params.f_w)),
        wy(windows(params.out_h, params.in_h, params.up_y, params.down_y, params.pad_y0, params.f_h)) {}

  // f ⊗ f: rows filtered horizontally into `rows` (in_h × out_w), then columns combined.
  void separable(const T* x, T* y, std::vector<T>& rows) const {
    const int64_t ow = p.out_w;
    rows.resize(static_cast<size_t>(p.in_h * ow));
    for (int64_t iy = 0; iy < p.in_h; ++iy) filter_row(x + iy * p.in_w, f, p.up_x, wx, rows.data() + iy * ow);
    const T gain = static_cast<T>(p.gain);
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const AxisWindow w = wy[oy];
      T* out = y + oy * ow;
      std::fill(out, out + ow, T(0));
      for (int j = 0; j < w.count; ++j) {
        const T coef = gain * f[w.tap0 + j * p.up_y];
        const T* src = rows.data() + (w.in0 + j) * ow;
        for (int64_t ox = 0; ox < ow; ++ox) out[ox] += coef * src[ox];
      }
    }
  }

  // [f_h, f_w]: each filter row that lands on a real input row adds its 1-D pass to the output row.
  void full(const T* x, T* y, std::vector<T>& row) const {
    const int64_t ow = p.out_w;
    row.resize(static_cast<size_t>(ow));
    const T gain = static_cast<T>(p.gain);
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const AxisWindow w = wy[oy];
      T* out = y + oy * ow;
      std::fill(out, out + ow, T(0));
      for (int j = 0; j < w.count; ++j) {
        const T* frow = f + static_cast<int64_t>(w.tap0 + j * p.up_y) * p.f_w;
        filter_row(x + (w.in0 + j) * p.in_w, frow, p.up_x, wx, row.data());
        for (int64_t ox = 0; ox < ow; ++ox) out[ox] += row[ox];
      }
      for (int64_t ox = 0; ox < ow; ++ox) out[ox] *= gain;
    }
  }
};

template <typename T>
void run(const Upfirdn2dParams& p, const T* x, const T* f, T* y) {
  const int64_t planes = p.batch * p.channels;
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  if (planes == 0 || out_plane == 0) return;
  const PlaneJob<T> job(p, f);
  // Enough planes per task that small planes do not drown in scheduling overhead.
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, out_plane + in_plane));
  at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch;
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * in_plane;
      T* yp = y + plane * out_plane;
      if (p.separable) {
        job.separable(xp, yp, scratch);
      } else {
        job.full(xp, yp, scratch);
      }
    }
  });
}

}  // namespace

void upfirdn2d(const Upfirdn2dParams& p, const float* x, const float* f, float* y) { run(p, x, f, y); }
void upfirdn2d(const Upfirdn2dParams& p, const double* x, const double* f, double* y) { run(p, x, f, y); }

}  // namespace atu::cpu
