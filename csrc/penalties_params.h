// A flat description of "many tensors at once" for the parameter-space penalties.
//
// Torch-free on purpose: the CPU kernels (csrc/cpu) and the CUDA kernels (csrc/cuda) take this
// struct, and only csrc/torch turns TensorLists into it. All pointers address contiguous storage;
// tensor t of the plan has numel[t] elements in params[t], in every reference and in fisher/grad.
#pragma once
#include <cstdint>

namespace atu {

enum class DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

struct PenaltyPlan {
  int64_t num_tensors = 0;
  int64_t num_refs = 1;                  // k: references per tensor (EWC: exactly 1, the anchor)
  DType dtype = DType::kFloat32;         // of params, references, fisher and grads alike
  const int64_t* numel = nullptr;        // [num_tensors]
  const double* weight = nullptr;        // [num_tensors]: the reduction's per-tensor factor
  const void* const* params = nullptr;   // [num_tensors]
  const void* const* refs = nullptr;     // [num_refs * num_tensors], ref j of tensor t at j*T + t
  const void* const* fisher = nullptr;   // [num_tensors] for EWC, else nullptr
  void* const* grads = nullptr;          // [num_tensors] when a gradient is wanted, else nullptr
};

// What the kernels compute, with p = params, a_j = refs, F = fisher, w_t = weight[t]:
//   sq_dist value   d = Σ_t w_t · (1/k) Σ_j Σ_i (p − a_j)²
//   sq_dist grad    g = scale · w_t · (2/k) Σ_j (p − a_j)
//   ewc value       e = Σ_t w_t · Σ_i F·(p − a)²
//   ewc grad        g = scale · w_t · 2·F·(p − a)
// "accumulate" adds g into grads; otherwise grads are overwritten (fresh, uninitialised storage).
// Values accumulate in float64 over fixed-size chunks summed in a fixed order, so results are
// bit-identical from run to run, whatever the thread count.
constexpr int64_t kChunkElems = 1 << 14;

}  // namespace atu
