#pragma once
#include "penalties_params.h"

namespace atu::cpu {

// Both return the value (see penalties_params.h); with plan.grads set they also write the gradient
// times `scale`, in the same pass over memory. They run the best loops this CPU supports.
double sq_dist(const PenaltyPlan& plan, double scale, bool accumulate);
double ewc(const PenaltyPlan& plan, double scale, bool accumulate);

// Which loops run here: "avx2" or "baseline".
const char* isa();

}  // namespace atu::cpu
