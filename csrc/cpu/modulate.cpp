// CPU fused modulation/demodulation: one (n, o) row per step of parallel_for; see modulate_params.h.
#include "cpu/modulate.h"

#include "cpu/parallel.h"

#include <algorithm>
#include <cmath>

namespace atu::cpu {
namespace {

template <typename T>
void run(const ModulateParams& p, const T* weight, const T* styles, T* w, T* d) {
  const int64_t I = p.in_channels, K = p.kernel_elems, row = I * K;
  const int64_t rows = p.batch * p.out_channels;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / p.out_channels, o = r % p.out_channels;
      const T* wrow = weight + o * row;
      const T* s = styles + n * I;
      T* out = w + r * row;
      double sum = 0.0;
      for (int64_t i = 0; i < I; ++i) {
        const T si = s[i];
        for (int64_t k = 0; k < K; ++k) {
          const T v = wrow[i * K + k] * si;
          out[i * K + k] = v;
          sum += static_cast<double>(v) * static_cast<double>(v);
        }
      }
      const T coef = p.demodulate ? static_cast<T>(1.0 / std::sqrt(sum + p.eps)) : T(1);
      if (p.demodulate) {
#pragma omp simd
        for (int64_t j = 0; j < row; ++j) out[j] *= coef;
      }
      d[r] = coef;
    }
  });
}

}  // namespace

void modulate(const ModulateParams& p, const float* weight, const float* styles, float* w, float* d) {
  run(p, weight, styles, w, d);
}
void modulate(const ModulateParams& p, const double* weight, const double* styles, double* w, double* d) {
  run(p, weight, styles, w, d);
}

}  // namespace atu::cpu
