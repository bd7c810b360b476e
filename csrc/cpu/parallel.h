// The CPU kernels' one way to run in parallel: torch's intra-op thread pool (the threads
// torch.set_num_threads sets), reached through the LibTorch stable ABI so the kernels depend on no
// torch release. f(begin, end) is called on disjoint ranges that cover [begin, end); grain is the
// fewest iterations a task takes. Nested calls run serially, as parallel_for's do.
#pragma once
#include <torch/csrc/stable/ops.h>

#include <cstdint>

namespace atu::cpu {

template <class F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  torch::stable::parallel_for(begin, end, grain, f);
}

}  // namespace atu::cpu
