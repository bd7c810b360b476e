// Layout predicates the stable Tensor does not offer, with the rules ATen's own use
// (c10/core/Contiguity.h), so outputs get the same strides they got from at::Tensor's.
#pragma once
#include <torch/headeronly/core/MemoryFormat.h>

#include "torch/stable.h"

namespace atu {

// No two elements share memory and the elements fill one block: a permutation of contiguous.
bool non_overlapping_and_dense(const Tensor& t);

// A 4-D tensor in NHWC order in memory (size-1 dims may have any stride).
bool channels_last_contiguous(const Tensor& t);

// `t` in the layout of `like` (same shape; `like` dense): itself when the strides already match,
// else a copy.
Tensor in_layout_of(const Tensor& t, const Tensor& like);

}  // namespace atu
