// CPU kernels of upfirdn2d (see upfirdn2d_params.h for the semantics). x and y are contiguous
// [N, C, H, W]; the filter is in correlation order: [f_h, f_w], or with params.separable the
// vertical taps (f_h values) followed by the horizontal ones (f_w values), meaning fy ⊗ fx.
// Planes (n, c) run in parallel with parallel_for.
#pragma once
#include "upfirdn2d_params.h"

namespace atu::cpu {

void upfirdn2d(const Upfirdn2dParams& p, const float* x, const float* f, float* y);
void upfirdn2d(const Upfirdn2dParams& p, const double* x, const double* f, double* y);

}  // namespace atu::cpu
