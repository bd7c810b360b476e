// CPU upfirdn2d: polyphase loops over real input samples only (inserted zeros are never
// multiplied), one (n, c) plane per parallel task.
//
// A separable (1-D) filter runs as two passes, horizontal into a per-task row buffer and then
// vertical: f_w + f_h multiplications per output instead of f_w·f_h. The vertical pass and the
// 2-D filter's accumulation run along whole output rows so the compiler can vectorise them.
#include "cpu/upfirdn2d.h"

#include "cpu/parallel.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace atu::cpu {
namespace {

std::vector<AxisWindow> windows(int64_t out_size, int64_t in_size, int up, int down, int pad0,
                                int taps) {
  std::vector<AxisWindow> w(static_cast<size_t>(out_size));
  for (int64_t o = 0; o < out_size; ++o) w[o] = axis_window(o, in_size, up, down, pad0, taps);
  return w;
}

// How one axis's outputs read one input row, grouped into runs that vectorise. Outputs
// o = first + k·P of one phase share a tap pattern and step through the input by S = P·down/up
// samples (P = up / gcd(up, down)), so a run is "for each tap: out[first + k·P] += c · in[in0 + k·S + j]":
// P = S = 1 (plain blur) is a contiguous multiply-add, the others are fixed-stride loops. Near
// the edges, where clipping changes the pattern, runs shrink to single outputs.
struct PhaseRun {
  int64_t first_out, length, in0;
  int tap0, taps;
};

struct RowPlan {
  int64_t P = 1, S = 1;
  int up = 1;
  std::vector<PhaseRun> runs;
};

RowPlan row_plan(const std::vector<AxisWindow>& w, int up, int down) {
  RowPlan plan;
  plan.up = up;
  plan.P = up / std::gcd(up, down);
  plan.S = plan.P * down / up;
  std::vector<int64_t> open(static_cast<size_t>(plan.P), -1);  // phase -> index of its open run
  for (int64_t o = 0; o < static_cast<int64_t>(w.size()); ++o) {
    if (w[o].count == 0) continue;  // reads no input: stays 0
    int64_t& idx = open[static_cast<size_t>(o % plan.P)];
    if (idx >= 0) {
      PhaseRun& r = plan.runs[static_cast<size_t>(idx)];
      if (o == r.first_out + r.length * plan.P && w[o].in0 == r.in0 + r.length * plan.S &&
          w[o].tap0 == r.tap0 && w[o].count == r.taps) {
        ++r.length;
        continue;
      }
    }
    idx = static_cast<int64_t>(plan.runs.size());
    plan.runs.push_back({o, 1, w[o].in0, w[o].tap0, w[o].count});
  }
  return plan;
}

// out[o] += Σ_j f[tap0 + j·up] · row[in0 + j] over the window of every output o of one row.
template <typename T>
void accumulate_row(const T* row, const T* f, const RowPlan& plan, T* out) {
  const int64_t P = plan.P, S = plan.S;
  for (const PhaseRun& r : plan.runs) {
    T* o = out + r.first_out;
    for (int j = 0; j < r.taps; ++j) {
      const T c = f[r.tap0 + j * plan.up];
      const T* x = row + r.in0 + j;
      if (P == 1 && S == 1) {
#pragma omp simd
        for (int64_t k = 0; k < r.length; ++k) o[k] += c * x[k];
      } else {
        for (int64_t k = 0; k < r.length; ++k) o[k * P] += c * x[k * S];
      }
    }
  }
}

template <typename T>
struct PlaneJob {
  const Upfirdn2dParams& p;
  const T* f;
  RowPlan row;                  // x axis
  std::vector<AxisWindow> wy;   // y axis, one window per output row

  PlaneJob(const Upfirdn2dParams& params, const T* filter)
      : p(params),
        f(filter),
        row(row_plan(windows(params.out_w, params.in_w, params.up_x, params.down_x, params.pad_x0, params.f_w),
                     params.up_x, params.down_x)),
        wy(windows(params.out_h, params.in_h, params.up_y, params.down_y, params.pad_y0, params.f_h)) {}

  // Every output row of the plane y: zeroed, add(w, j, out) for each input row j < w.count of its
  // window, then finish(out).
  template <typename AddRow, typename Finish>
  void combine_rows(T* y, AddRow&& add, Finish&& finish) const {
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const AxisWindow w = wy[oy];
      T* out = y + oy * p.out_w;
      std::fill(out, out + p.out_w, T(0));
      for (int j = 0; j < w.count; ++j) add(w, j, out);
      finish(out);
    }
  }

  // fy ⊗ fx: rows filtered horizontally into `rows` (in_h × out_w), then columns combined.
  void separable(const T* x, T* y, std::vector<T>& rows) const {
    const int64_t ow = p.out_w;
    rows.assign(static_cast<size_t>(p.in_h * ow), T(0));
    const T* fy = f;           // vertical taps
    const T* fx = f + p.f_h;   // horizontal taps
    for (int64_t iy = 0; iy < p.in_h; ++iy) accumulate_row(x + iy * p.in_w, fx, row, rows.data() + iy * ow);
    const T gain = static_cast<T>(p.gain);
    combine_rows(
        y,
        [&](const AxisWindow& w, int j, T* out) {
          const T coef = gain * fy[w.tap0 + j * p.up_y];
          const T* src = rows.data() + (w.in0 + j) * ow;
#pragma omp simd
          for (int64_t ox = 0; ox < ow; ++ox) out[ox] += coef * src[ox];
        },
        [](T*) {});
  }

  // [f_h, f_w]: each filter row that lands on a real input row adds its 1-D pass to the output row.
  void full(const T* x, T* y) const {
    const T gain = static_cast<T>(p.gain);
    combine_rows(
        y,
        [&](const AxisWindow& w, int j, T* out) {
          const T* frow = f + static_cast<int64_t>(w.tap0 + j * p.up_y) * p.f_w;
          accumulate_row(x + (w.in0 + j) * p.in_w, frow, row, out);
        },
        [&](T* out) {
          for (int64_t ox = 0; ox < p.out_w; ++ox) out[ox] *= gain;
        });
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
  parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch;
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * in_plane;
      T* yp = y + plane * out_plane;
      if (p.separable) {
        job.separable(xp, yp, scratch);
      } else {
        job.full(xp, yp);
      }
    }
  });
}

}  // namespace

void upfirdn2d(const Upfirdn2dParams& p, const float* x, const float* f, float* y) { run(p, x, f, y); }
void upfirdn2d(const Upfirdn2dParams& p, const double* x, const double* f, double* y) { run(p, x, f, y); }

}  // namespace atu::cpu
