// CPU kernels of the parameter-space penalties: one pass over memory for a value, one pass for
// value + gradient, all tensors of a model in one parallel loop.
#include "cpu/penalties.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <vector>

namespace atu::cpu {
namespace {

// Arithmetic type of the element-wise work: float for float32 and the 16-bit types (widened once
// on load), double for float64. Sums of squares always go to double.
template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

struct Chunk {
  int64_t tensor;
  int64_t begin;
  int64_t end;
};

// Fixed-size chunks over every tensor: the unit of parallel work and of partial sums. Chunk
// boundaries depend only on the shapes, never on the thread count, so sums are reproducible.
std::vector<Chunk> make_chunks(const PenaltyPlan& plan) {
  std::vector<Chunk> chunks;
  for (int64_t t = 0; t < plan.num_tensors; ++t) {
    for (int64_t b = 0; b < plan.numel[t]; b += kChunkElems) {
      chunks.push_back({t, b, std::min(b + kChunkElems, plan.numel[t])});
    }
  }
  return chunks;
}

// Runs chunk_fn(chunk) -> double over all chunks in parallel and returns Σ weight[t] · partial,
// summed in chunk order.
template <typename ChunkFn>
double reduce_chunks(const PenaltyPlan& plan, const ChunkFn& chunk_fn) {
  const std::vector<Chunk> chunks = make_chunks(plan);
  std::vector<double> partial(chunks.size(), 0.0);
  at::parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) partial[c] = chunk_fn(chunks[c]);
  });
  double total = 0.0;
  for (size_t c = 0; c < chunks.size(); ++c) total += plan.weight[chunks[c].tensor] * partial[c];
  return total;
}

// ---- squared distance to k references ----------------------------------------------------------

// One reference: the hot path (Repulsion always collapses k references into their mean).
template <typename T, bool kGrad, bool kAccumulate>
double sq_dist_k1(const T* __restrict p, const T* __restrict a, T* __restrict g, int64_t n,
                  typename Compute<T>::type gscale) {
  using C = typename Compute<T>::type;
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) {
    const C diff = static_cast<C>(p[i]) - static_cast<C>(a[i]);
    acc += static_cast<double>(diff) * static_cast<double>(diff);
    if constexpr (kGrad) {
      const C gi = gscale * diff;
      if constexpr (kAccumulate) g[i] = static_cast<T>(static_cast<C>(g[i]) + gi);
      else g[i] = static_cast<T>(gi);
    }
  }
  return acc;
}

// k references: Σ_j (p − a_j)² and Σ_j (p − a_j) per element.
template <typename T, bool kGrad, bool kAccumulate>
double sq_dist_kn(const T* p, const T* const* a, int64_t k, T* g, int64_t n,
                  typename Compute<T>::type gscale) {
  using C = typename Compute<T>::type;
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const C pi = static_cast<C>(p[i]);
    double sq = 0.0;
    C lin = 0;
    for (int64_t j = 0; j < k; ++j) {
      const C diff = pi - static_cast<C>(a[j][i]);
      sq += static_cast<double>(diff) * static_cast<double>(diff);
      lin += diff;
    }
    acc += sq;
    if constexpr (kGrad) {
      const C gi = gscale * lin;
      if constexpr (kAccumulate) g[i] = static_cast<T>(static_cast<C>(g[i]) + gi);
      else g[i] = static_cast<T>(gi);
    }
  }
  return acc;
}

template <typename T, bool kGrad, bool kAccumulate>
double sq_dist_typed(const PenaltyPlan& plan, double scale) {
  using C = typename Compute<T>::type;
  const int64_t T_ = plan.num_tensors, k = plan.num_refs;
  const double inv_k = 1.0 / static_cast<double>(k);
  const double value = reduce_chunks(plan, [&](const Chunk& c) {
    const int64_t t = c.tensor, n = c.end - c.begin;
    const T* p = static_cast<const T*>(plan.params[t]) + c.begin;
    T* g = kGrad ? static_cast<T*>(plan.grads[t]) + c.begin : nullptr;
    const C gscale = static_cast<C>(scale * plan.weight[t] * 2.0 * inv_k);
    if (k == 1) {
      const T* a = static_cast<const T*>(plan.refs[t]) + c.begin;
      return sq_dist_k1<T, kGrad, kAccumulate>(p, a, g, n, gscale);
    }
    std::vector<const T*> a(k);
    for (int64_t j = 0; j < k; ++j) a[j] = static_cast<const T*>(plan.refs[j * T_ + t]) + c.begin;
    return sq_dist_kn<T, kGrad, kAccumulate>(p, a.data(), k, g, n, gscale);
  });
  return value * inv_k;
}

// ---- EWC: Σ F·(p − a)² ---------------------------------------------------------------------------

template <typename T, bool kGrad, bool kAccumulate>
double ewc_chunk(const T* __restrict p, const T* __restrict a, const T* __restrict f,
                 T* __restrict g, int64_t n, typename Compute<T>::type gscale) {
  using C = typename Compute<T>::type;
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) {
    const C diff = static_cast<C>(p[i]) - static_cast<C>(a[i]);
    const C fi = static_cast<C>(f[i]);
    acc += static_cast<double>(fi) * static_cast<double>(diff) * static_cast<double>(diff);
    if constexpr (kGrad) {
      const C gi = gscale * fi * diff;
      if constexpr (kAccumulate) g[i] = static_cast<T>(static_cast<C>(g[i]) + gi);
      else g[i] = static_cast<T>(gi);
    }
  }
  return acc;
}

template <typename T, bool kGrad, bool kAccumulate>
double ewc_typed(const PenaltyPlan& plan, double scale) {
  using C = typename Compute<T>::type;
  return reduce_chunks(plan, [&](const Chunk& c) {
    const int64_t t = c.tensor;
    const T* p = static_cast<const T*>(plan.params[t]) + c.begin;
    const T* a = static_cast<const T*>(plan.refs[t]) + c.begin;
    const T* f = static_cast<const T*>(plan.fisher[t]) + c.begin;
    T* g = kGrad ? static_cast<T*>(plan.grads[t]) + c.begin : nullptr;
    const C gscale = static_cast<C>(scale * plan.weight[t] * 2.0);
    return ewc_chunk<T, kGrad, kAccumulate>(p, a, f, g, c.end - c.begin, gscale);
  });
}

// ---- dispatch over dtype and gradient mode -------------------------------------------------------

#define ATU_DEFINE_DISPATCH(NAME, FN)                                                         \
  template <typename T>                                                                       \
  double NAME##_mode(const PenaltyPlan& plan, double scale, bool accumulate) {                \
    if (plan.grads == nullptr) return FN<T, false, false>(plan, scale);                       \
    return accumulate ? FN<T, true, true>(plan, scale) : FN<T, true, false>(plan, scale);    \
  }                                                                                           \
  double NAME##_dispatch(const PenaltyPlan& plan, double scale, bool accumulate) {            \
    switch (plan.dtype) {                                                                     \
      case DType::kFloat32: return NAME##_mode<float>(plan, scale, accumulate);               \
      case DType::kFloat64: return NAME##_mode<double>(plan, scale, accumulate);              \
      case DType::kFloat16: return NAME##_mode<c10::Half>(plan, scale, accumulate);           \
      case DType::kBFloat16: return NAME##_mode<c10::BFloat16>(plan, scale, accumulate);      \
    }                                                                                         \
    return 0.0;                                                                               \
  }

ATU_DEFINE_DISPATCH(sq_dist, sq_dist_typed)
ATU_DEFINE_DISPATCH(ewc, ewc_typed)
#undef ATU_DEFINE_DISPATCH

}  // namespace

double sq_dist(const PenaltyPlan& plan, double scale, bool accumulate) {
  return sq_dist_dispatch(plan, scale, accumulate);
}

double ewc(const PenaltyPlan& plan, double scale, bool accumulate) {
  return ewc_dispatch(plan, scale, accumulate);
}

}  // namespace atu::cpu
