// CPU kernels of the parameter-space penalties: one pass over memory for a value, one pass for
// value + gradient, all tensors of a model in one parallel loop over fixed-size chunks.
#include "cpu/penalties.h"

#include "cpu/parallel.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace atu::cpu {

// ---- the loops, once per instruction set --------------------------------------------------------
// Widening float differences to double sums only vectorises well with AVX2 (vcvtps2pd on 256-bit
// registers); with SSE2 alone the value pass is compute-bound at about half the memory speed.
// All headers are included above: only the loops below are compiled for AVX2, so no inline
// function shared with the rest of the program can pick up AVX2 instructions.
namespace baseline {
#include "cpu/penalty_loops.inc"
}  // namespace baseline

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATU_HAVE_AVX2_LOOPS 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "cpu/penalty_loops.inc"
#include "cpu/streaming_loops.inc"
}  // namespace avx2
#pragma GCC pop_options
#elif defined(__x86_64__) && defined(__clang__)
#define ATU_HAVE_AVX2_LOOPS 1
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
namespace avx2 {
#include "cpu/penalty_loops.inc"
#include "cpu/streaming_loops.inc"
}  // namespace avx2
#pragma clang attribute pop
#endif

namespace {

// ATU_CPU_ISA=baseline in the environment forces the portable loops (tests use it to check them
// on machines that have AVX2).
bool cpu_has_avx2() {
#ifdef ATU_HAVE_AVX2_LOOPS
  static const bool supported = [] {
    const char* forced = std::getenv("ATU_CPU_ISA");
    if (forced != nullptr && std::string(forced) == "baseline") return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
#else
  return false;
#endif
}

// Arithmetic type of the element-wise work: float for float32 and the 16-bit types (widened once
// on load), double for float64.
template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

struct Chunk {
  int64_t tensor;
  int64_t begin;
  int64_t end;
};

// Chunk boundaries depend only on the shapes, never on the thread count: sums are reproducible.
std::vector<Chunk> make_chunks(const PenaltyPlan& plan) {
  std::vector<Chunk> chunks;
  for (int64_t t = 0; t < plan.num_tensors; ++t) {
    for (int64_t b = 0; b < plan.numel[t]; b += kChunkElems) {
      chunks.push_back({t, b, std::min(b + kChunkElems, plan.numel[t])});
    }
  }
  return chunks;
}

// Runs chunk_fn(chunk) -> double over all chunks in parallel; returns Σ weight[t] · partial,
// summed in chunk order.
template <typename ChunkFn>
double reduce_chunks(const PenaltyPlan& plan, const ChunkFn& chunk_fn) {
  const std::vector<Chunk> chunks = make_chunks(plan);
  std::vector<double> partial(chunks.size(), 0.0);
  parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) partial[c] = chunk_fn(chunks[c]);
  });
  double total = 0.0;
  for (size_t c = 0; c < chunks.size(); ++c) total += plan.weight[chunks[c].tensor] * partial[c];
  return total;
}

// Streaming (non-temporal) stores for gradients written from scratch: they skip reading every
// gradient cache line before overwriting it, a quarter of the gradient pass's memory traffic.
// Only worth it when the gradients are far larger than the caches (they are evicted anyway) and
// only in the AVX2 float32 loops; their sums run in the same order as the ordinary loops, so the
// value does not depend on which loops ran.
constexpr int64_t kStreamingMinElems = int64_t{8} << 20;

bool use_streaming_stores(const PenaltyPlan& plan) {
  int64_t total = 0;
  for (int64_t t = 0; t < plan.num_tensors; ++t) total += plan.numel[t];
  return plan.grads != nullptr && total >= kStreamingMinElems;
}

bool aligned32(const void* p) { return reinterpret_cast<uintptr_t>(p) % 32 == 0; }

template <typename L, typename T, bool kGrad, bool kAccumulate>
struct Streaming : std::false_type {};
#ifdef ATU_HAVE_AVX2_LOOPS
template <>
struct Streaming<avx2::Loops, float, true, false> : std::true_type {};
#endif

template <typename L, typename T, bool kGrad, bool kAccumulate>
double sq_dist_typed(const PenaltyPlan& plan, double scale) {
  using C = typename Compute<T>::type;
  const int64_t num_tensors = plan.num_tensors, k = plan.num_refs;
  const double inv_k = 1.0 / static_cast<double>(k);
  const bool stream = use_streaming_stores(plan);
  const double value = reduce_chunks(plan, [&](const Chunk& c) {
    const int64_t t = c.tensor, n = c.end - c.begin;
    const T* p = static_cast<const T*>(plan.params[t]) + c.begin;
    T* g = kGrad ? static_cast<T*>(plan.grads[t]) + c.begin : nullptr;
    const C gscale = static_cast<C>(scale * plan.weight[t] * 2.0 * inv_k);
    if (k == 1) {
      const T* a = static_cast<const T*>(plan.refs[t]) + c.begin;
#ifdef ATU_HAVE_AVX2_LOOPS
      if constexpr (Streaming<L, T, kGrad, kAccumulate>::value) {
        if (stream && aligned32(g)) return avx2::StreamingLoops::sq_k1(p, a, g, n, gscale);
      }
#endif
      return L::template sq_k1<T, C, kGrad, kAccumulate>(p, a, g, n, gscale);
    }
    std::vector<const T*> a(k);
    for (int64_t j = 0; j < k; ++j) a[j] = static_cast<const T*>(plan.refs[j * num_tensors + t]) + c.begin;
    return L::template sq_kn<T, C, kGrad, kAccumulate>(p, a.data(), k, g, n, gscale);
  });
  return value * inv_k;
}

template <typename L, typename T, bool kGrad, bool kAccumulate>
double ewc_typed(const PenaltyPlan& plan, double scale) {
  using C = typename Compute<T>::type;
  const bool stream = use_streaming_stores(plan);
  return reduce_chunks(plan, [&](const Chunk& c) {
    const int64_t t = c.tensor;
    const T* p = static_cast<const T*>(plan.params[t]) + c.begin;
    const T* a = static_cast<const T*>(plan.refs[t]) + c.begin;
    const T* f = static_cast<const T*>(plan.fisher[t]) + c.begin;
    T* g = kGrad ? static_cast<T*>(plan.grads[t]) + c.begin : nullptr;
    const C gscale = static_cast<C>(scale * plan.weight[t] * 2.0);
#ifdef ATU_HAVE_AVX2_LOOPS
    if constexpr (Streaming<L, T, kGrad, kAccumulate>::value) {
      if (stream && aligned32(g)) return avx2::StreamingLoops::ewc(p, a, f, g, c.end - c.begin, gscale);
    }
#endif
    return L::template ewc<T, C, kGrad, kAccumulate>(p, a, f, g, c.end - c.begin, gscale);
  });
}

// Dispatch over (ISA, dtype, gradient mode) to Kernel<Loops, T, grad, accumulate>.
template <template <typename, typename, bool, bool> class Kernel>
struct Dispatcher {
  template <typename L, typename T>
  static double mode(const PenaltyPlan& plan, double scale, bool accumulate) {
    if (plan.grads == nullptr) return Kernel<L, T, false, false>::run(plan, scale);
    return accumulate ? Kernel<L, T, true, true>::run(plan, scale)
                      : Kernel<L, T, true, false>::run(plan, scale);
  }
  template <typename L>
  static double dtype(const PenaltyPlan& plan, double scale, bool accumulate) {
    switch (plan.dtype) {
      case DType::kFloat32: return mode<L, float>(plan, scale, accumulate);
      case DType::kFloat64: return mode<L, double>(plan, scale, accumulate);
      case DType::kFloat16: return mode<L, torch::headeronly::Half>(plan, scale, accumulate);
      case DType::kBFloat16: return mode<L, torch::headeronly::BFloat16>(plan, scale, accumulate);
    }
    return 0.0;
  }
  static double run(const PenaltyPlan& plan, double scale, bool accumulate) {
#ifdef ATU_HAVE_AVX2_LOOPS
    if (cpu_has_avx2()) return dtype<avx2::Loops>(plan, scale, accumulate);
#endif
    return dtype<baseline::Loops>(plan, scale, accumulate);
  }
};

template <typename L, typename T, bool G, bool A>
struct SqDistKernel {
  static double run(const PenaltyPlan& plan, double scale) { return sq_dist_typed<L, T, G, A>(plan, scale); }
};
template <typename L, typename T, bool G, bool A>
struct EwcKernel {
  static double run(const PenaltyPlan& plan, double scale) { return ewc_typed<L, T, G, A>(plan, scale); }
};

}  // namespace

double sq_dist(const PenaltyPlan& plan, double scale, bool accumulate) {
  return Dispatcher<SqDistKernel>::run(plan, scale, accumulate);
}

double ewc(const PenaltyPlan& plan, double scale, bool accumulate) {
  return Dispatcher<EwcKernel>::run(plan, scale, accumulate);
}

const char* isa() { return cpu_has_avx2() ? "avx2" : "baseline"; }

}  // namespace atu::cpu
