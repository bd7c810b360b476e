// CPU kernel of the fused bias + activation (see bias_act_params.h for what it computes).
#pragma once
#include "bias_act_params.h"

namespace atu::cpu {

// Writes args.out from args.x, args.bias and (order ≥ 1) args.dy, in parallel over the elements.
// float32, float64, float16 and bfloat16 (the 16-bit types compute in float32).
void bias_act(const bias_act::Args& args);

}  // namespace atu::cpu
