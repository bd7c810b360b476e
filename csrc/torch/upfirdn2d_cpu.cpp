// CPU registration of atu::upfirdn2d (schema in schemas.cpp). The CUDA registration is in
// upfirdn2d_cuda.cpp; the fake kernel and autograd in python/atu_ext/upfirdn2d.py.
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cpu/upfirdn2d.h"
#include "torch/upfirdn2d_args.h"

namespace atu {
namespace {

// The CPU kernel's filter buffer (see cpu/upfirdn2d.h), in float64, from f's taps (row-major,
// float64) in correlation order. A 1-D filter f becomes [f, f]. A 2-D filter that is an outer
// product u ⊗ v to within `eps` (the data type's rounding; StyleGAN2's make_kernel([1, 3, 3, 1]) is
// one) becomes [u, v] and runs as two 1-D passes, f_h + f_w instead of f_h · f_w multiplications
// per output; the results then differ from the 2-D evaluation only in the last bits. Anything
// else stays 2-D.
std::vector<double> cpu_filter(const std::vector<double>& f, int f_h, int f_w, bool one_d, double eps,
                               bool* separable) {
  *separable = true;
  if (one_d) {
    std::vector<double> out(f);
    out.insert(out.end(), f.begin(), f.end());
    return out;
  }
  // The largest tap (the first of equals) as pivot: u is its column, v its row over it.
  size_t pivot_index = 0;
  for (size_t i = 1; i < f.size(); ++i) {
    if (std::abs(f[i]) > std::abs(f[pivot_index])) pivot_index = i;
  }
  const int p = static_cast<int>(pivot_index) / f_w, q = static_cast<int>(pivot_index) % f_w;
  const double pivot = f[pivot_index];
  if (pivot != 0.0) {
    std::vector<double> uv(f_h + f_w);
    for (int i = 0; i < f_h; ++i) uv[i] = f[i * f_w + q];
    for (int j = 0; j < f_w; ++j) uv[f_h + j] = f[p * f_w + j] / pivot;
    double err = 0.0;
    for (int i = 0; i < f_h; ++i) {
      for (int j = 0; j < f_w; ++j) err = std::max(err, std::abs(uv[i] * uv[f_h + j] - f[i * f_w + j]));
    }
    if (err <= 2.0 * eps * std::abs(pivot)) return uv;
  }
  *separable = false;
  return f;
}

// f's taps as float64 in correlation order (what the kernels apply): reversed, unless
// flip_filter, along every dim, which for a row-major array is the flat order reversed.
std::vector<double> correlation_taps(const Tensor& f, bool flip_filter) {
  const Tensor f64 = torch::stable::contiguous(
      torch::stable::to(f, ScalarType::Double, std::nullopt, Device(torch::headeronly::DeviceType::CPU)));
  const double* taps = f64.const_data_ptr<double>();
  std::vector<double> out(taps, taps + f64.numel());
  if (!flip_filter) std::reverse(out.begin(), out.end());
  return out;
}

template <class T>
void run(const Upfirdn2dParams& p, const Tensor& x, const std::vector<double>& taps, Tensor& y) {
  const std::vector<T> f(taps.begin(), taps.end());
  cpu::upfirdn2d(p, torch::stable::contiguous(x).const_data_ptr<T>(), f.data(), y.mutable_data_ptr<T>());
}

Tensor upfirdn2d_cpu(Tensor x, Tensor f, std::vector<int64_t> up, std::vector<int64_t> down,
                     std::vector<int64_t> padding, bool flip_filter, double gain) {
  const ScalarType st = x.scalar_type();
  if (is_reduced_float(st)) {
    // float16/bfloat16: the float32 kernel on a converted copy, rounded once on the way out (the CUDA
    // kernels likewise accumulate in float32); the conversions move far less than the filtering reads.
    const Tensor y = upfirdn2d_cpu(cast(x, ScalarType::Float), f, up, down, padding, flip_filter, gain);
    return cast(y, st);
  }
  if (st != ScalarType::Float && st != ScalarType::Double) {
    fail_value("atu::upfirdn2d: expected a floating x (float32, float64, float16 or bfloat16), got ", name_of(st));
  }
  Upfirdn2dParams p = upfirdn2d_params(x, f, up, down, padding, gain);
  const double eps = st == ScalarType::Double ? 2.220446049250313e-16 : 1.1920928955078125e-07;
  const std::vector<double> taps =
      cpu_filter(correlation_taps(f, flip_filter), p.f_h, p.f_w, f.dim() == 1, eps, &p.separable);
  Tensor y = torch::stable::empty({p.batch, p.channels, p.out_h, p.out_w}, st, std::nullopt, x.device());
  if (st == ScalarType::Float) {
    run<float>(p, x, taps, y);
  } else {
    run<double>(p, x, taps, y);
  }
  return torch::stable::contiguous(y, upfirdn2d_out_format(x));
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CPU, m) { m.impl("upfirdn2d", TORCH_BOX(&upfirdn2d_cpu)); }

}  // namespace atu
