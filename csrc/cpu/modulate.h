// CPU kernel of the fused modulation/demodulation (see modulate_params.h). All arrays are
// contiguous: weight [O, I, K], styles [N, I], w [N, O, I, K], d [N, O]. Sums of squares
// accumulate in float64; rows (n, o) run in parallel.
#pragma once
#include "modulate_params.h"

namespace atu::cpu {

void modulate(const ModulateParams& p, const float* weight, const float* styles, float* w, float* d);
void modulate(const ModulateParams& p, const double* weight, const double* styles, double* w, double* d);

}  // namespace atu::cpu
