// Problem description of the fused StyleGAN2 weight modulation (torch-free, CPU and CUDA).
//
//   a[n, o, i, k] = weight[o, i, k] · styles[n, i]              (k runs over kh·kw)
//   d[n, o]       = rsqrt(Σ_{i,k} a² + eps)  with demodulate, else 1
//   w[n, o, i, k] = a · d[n, o]
// One pass per (n, o) row computes a, its sum of squares and then scales it in place: the row
// (I·kh·kw values) is still in cache for the second touch.
#pragma once
#include <cstdint>

namespace atu {

struct ModulateParams {
  int64_t batch = 0, out_channels = 0, in_channels = 0, kernel_elems = 0;  // N, O, I, kh·kw
  bool demodulate = true;
  double eps = 1e-8;
};

}  // namespace atu
