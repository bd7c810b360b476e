#include "torch/layout.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace atu {

bool non_overlapping_and_dense(const Tensor& t) {
  const int64_t dim = t.dim();
  if (dim == 1) return t.size(0) < 2 || t.stride(0) == 1;
  // Dims by increasing stride, those of size 0 or 1 last: they constrain nothing.
  std::vector<int64_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (t.size(a) < 2) return false;
    if (t.size(b) < 2) return true;
    return t.stride(a) < t.stride(b);
  });
  int64_t required = 1;
  for (const int64_t d : order) {
    if (t.size(d) < 2) return true;
    if (t.stride(d) != required) return false;
    required *= t.size(d);
  }
  return true;
}

bool channels_last_contiguous(const Tensor& t) {
  if (t.dim() != 4) return false;
  int64_t expected = 1;
  for (const int64_t d : {1, 3, 2, 0}) {
    if (t.size(d) == 1) continue;
    if (t.stride(d) != expected) return false;
    expected *= t.size(d);
  }
  return true;
}

Tensor in_layout_of(const Tensor& t, const Tensor& like) {
  if (t.strides() == like.strides()) return t;
  Tensor copy = torch::stable::empty_like(like);
  torch::stable::copy_(copy, t);
  return copy;
}

}  // namespace atu
