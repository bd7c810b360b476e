// CUDA kernels of the parameter-space penalties: the GPU twin of cpu/penalties.cpp.
//
// Shape of the computation (see penalties_params.h for the math):
//   * Work is cut into chunks of kChunkElems elements of one tensor, exactly as on the CPU, so
//     chunk boundaries depend only on the shapes. One thread block handles one chunk and writes
//     one float64 partial (already multiplied by the tensor's weight) to the workspace.
//   * One launch covers many tensors: their pointers, sizes and weights travel in a fixed-capacity
//     __grid_constant__ kernel-parameter struct (LaunchArgs); each block finds its tensor by a
//     binary search over the launch's chunk prefix table. Plans larger than one struct take
//     several launches, which fill disjoint ranges of the same partials array.
//   * A final single-block kernel sums the partials in a fixed order and writes the value.
// Every sum runs in an order fixed by the shapes alone (not by timing, pointer alignment or the
// number of SMs) and no floating-point atomics are used, so results are bit-identical run to run.
// Value and gradient are computed in the same pass over memory.
#include "cuda/penalties.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace atu::cuda {
namespace {

// ---- launch configuration ---------------------------------------------------------------------

// Threads per chunk block. A full float32 chunk gives each thread 16 float4 loads per input.
// The variants use 32 to 75 registers a thread (ptxas, sm_80/sm_90), so 3 to 8 blocks stay
// resident per SM, which should keep enough 16-byte loads in flight for HBM without unrolling
// tricks (not measured on a GPU yet).
constexpr int kBlockThreads = 256;
// Threads of the single block that combines the per-chunk partials.
constexpr int kCombineThreads = 1024;
// Capacity of one launch's parameter struct. The pointer slots are shared by all tensors of the
// launch (1 + k + [fisher] + [grad] each), so a launch holds min(512, 2048 / slots) tensors:
// 512 for every EWC call and for sq_dist with up to 2 references with grads.
constexpr int kMaxTensorsPerLaunch = 512;
constexpr int kMaxPointersPerLaunch = 2048;
// CUDA 12.1+ accepts up to 32764 bytes of kernel parameters on sm_70 and newer (with a driver of
// the 530 series or later; an older one fails the launch, which check() reports).
constexpr size_t kMaxKernelParamBytes = 32764;
#if !defined(CUDART_VERSION) || CUDART_VERSION < 12010
#error "atu's CUDA kernels need CUDA 12.1 or newer (kernel parameters larger than 4 KB)"
#endif

static_assert(kChunkElems <= INT_MAX, "in-chunk indices are int");
static_assert((kChunkElems * 2) % 16 == 0,
              "a chunk must start 16-byte aligned (for 16-bit types too) when its tensor does");

enum class Op {
  kSqDist1,  // sq_dist with k = 1 known at compile time: the hot path (Repulsion collapses its
             // references into their mean). Bit-identical to kSqDistK run with k = 1.
  kSqDistK,  // sq_dist with k references read from the launch arguments
  kEwc,      // EWC: one anchor and the Fisher diagonal
};

enum class GradMode { kNone, kWrite, kAccumulate };

// What one launch covers. Tensor i of the launch owns chunks [chunk_begin[i], chunk_begin[i+1])
// of the launch and the pointer slots [i * ptr_stride, (i+1) * ptr_stride) of `ptrs`, laid out as
//   params, ref 0 .. ref k-1, [fisher (EWC)], [grad (when a gradient is wanted)].
// Only non-empty tensors are packed, so chunk_begin is strictly increasing.
// Members are ordered by size so the struct has no padding to pay for in every launch.
struct LaunchArgs {
  const void* ptrs[kMaxPointersPerLaunch];
  int64_t chunk_begin[kMaxTensorsPerLaunch + 1];
  int64_t numel[kMaxTensorsPerLaunch];
  double weight[kMaxTensorsPerLaunch];
  double inv_k;    // 1/k for sq_dist, 1 for EWC: the gradient factor is 2·inv_k as on the CPU
  int num_tensors;
  int num_refs;
  int ptr_stride;
  bool wide[kMaxTensorsPerLaunch];  // every pointer of the tensor is 16-byte aligned
};
static_assert(sizeof(LaunchArgs) + 2 * sizeof(void*) <= kMaxKernelParamBytes,
              "LaunchArgs plus the other kernel arguments must fit the kernel parameter limit");

// ---- element types ----------------------------------------------------------------------------

// C is the arithmetic type of the element-wise work, as on the CPU: float for float32 and the
// 16-bit types (widened once on load), double for float64. Sums are always double.
// Conversions use the intrinsics only, so this compiles under __CUDA_NO_HALF_CONVERSIONS__ and
// friends, which torch builds like to define.
template <typename T> struct Traits;
template <> struct Traits<float> {
  using C = float;
  static __device__ __forceinline__ float to_c(float x) { return x; }
  static __device__ __forceinline__ float from_c(float x) { return x; }
};
template <> struct Traits<double> {
  using C = double;
  static __device__ __forceinline__ double to_c(double x) { return x; }
  static __device__ __forceinline__ double from_c(double x) { return x; }
};
template <> struct Traits<__half> {
  using C = float;
  static __device__ __forceinline__ float to_c(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_c(float x) { return __float2half_rn(x); }
};
template <> struct Traits<__nv_bfloat16> {
  using C = float;
  static __device__ __forceinline__ float to_c(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_c(float x) { return __float2bfloat16_rn(x); }
};

// Elements per 16-byte vector: a thread's unit of work ("group") is kLanes<T> consecutive elements.
template <typename T> constexpr int kLanes = 16 / static_cast<int>(sizeof(T));

// Loads lanes [0, lanes) of src, converted to the compute type; the other lanes are set to 0 and
// never used. kWide: all kLanes<T> lanes in one 16-byte load (src 16-byte aligned, lanes full).
template <typename T, bool kWide>
__device__ __forceinline__ void load_lanes(const T* src, int lanes,
                                           typename Traits<T>::C (&out)[kLanes<T>]) {
  if constexpr (kWide) {
    const uint4 bits = *reinterpret_cast<const uint4*>(src);
    T raw[kLanes<T>];
    memcpy(raw, &bits, sizeof(bits));  // a register move, not a memory copy
#pragma unroll
    for (int v = 0; v < kLanes<T>; ++v) out[v] = Traits<T>::to_c(raw[v]);
  } else {
#pragma unroll
    for (int v = 0; v < kLanes<T>; ++v) {
      out[v] = v < lanes ? Traits<T>::to_c(src[v]) : typename Traits<T>::C(0);
    }
  }
}

// Stores lanes [0, lanes) of in to dst; kWide as for load_lanes.
template <typename T, bool kWide>
__device__ __forceinline__ void store_lanes(T* dst, int lanes,
                                            const typename Traits<T>::C (&in)[kLanes<T>]) {
  if constexpr (kWide) {
    T raw[kLanes<T>];
#pragma unroll
    for (int v = 0; v < kLanes<T>; ++v) raw[v] = Traits<T>::from_c(in[v]);
    uint4 bits;
    memcpy(&bits, raw, sizeof(bits));
    // __stwb is a plain (write-back) store like `*dst = bits`, but one the optimiser keeps as a
    // single 16-byte store: it split the plain store into scalar ones in the write-only mode.
    __stwb(reinterpret_cast<uint4*>(dst), bits);
  } else {
#pragma unroll
    for (int v = 0; v < kLanes<T>; ++v) {
      if (v < lanes) dst[v] = Traits<T>::from_c(in[v]);
    }
  }
}

// ---- reductions -------------------------------------------------------------------------------

// Sum over the block, valid in thread 0. A fixed tree (shuffles with fixed offsets, then the
// warp sums in warp order), so the result depends only on the inputs. All threads must call it.
template <int kThreads>
__device__ __forceinline__ double block_sum(double x) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "whole warps, at most 32 of them");
  constexpr int kWarps = kThreads / 32;
  __shared__ double warp_sums[kWarps];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_down_sync(0xffffffffu, x, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    x = lane < kWarps ? warp_sums[lane] : 0.0;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) x += __shfl_down_sync(0xffffffffu, x, offset);
  }
  return x;
}

// ---- the chunk kernel -------------------------------------------------------------------------

// The arrays of one chunk, already offset to its first element.
template <typename T>
struct ChunkPtrs {
  const void* const* slots;  // this tensor's pointer slots in the launch arguments
  int64_t begin;             // the chunk's first element in its tensor
  const T* param;
  const T* fisher;           // EWC only
  T* grad;                   // when a gradient is wanted

  __device__ __forceinline__ const T* ref(int j) const {
    return static_cast<const T*>(slots[1 + j]) + begin;
  }
};

// One group of up to kLanes<T> consecutive elements starting at i0 (lanes of them valid): adds
// their value terms to acc in lane order and writes or adds their gradient.
// The element -> lane -> accumulation order is the same for kWide and scalar loads, which is what
// makes the result independent of pointer alignment.
template <typename T, Op kOp, GradMode kGrad, bool kWide>
__device__ __forceinline__ void process_group(const ChunkPtrs<T>& c, int num_refs, int i0,
                                              int lanes, typename Traits<T>::C gscale,
                                              double& acc) {
  using C = typename Traits<T>::C;
  constexpr int V = kLanes<T>;
  C p[V];
  load_lanes<T, kWide>(c.param + i0, lanes, p);
  C g[V] = {};  // the gradient of each lane, scale included (invalid lanes stay 0, unstored)
  if constexpr (kOp == Op::kEwc) {
    C a[V], f[V];
    load_lanes<T, kWide>(c.ref(0) + i0, lanes, a);
    load_lanes<T, kWide>(c.fisher + i0, lanes, f);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      if (!kWide && v >= lanes) break;
      const C diff = p[v] - a[v];
      acc += static_cast<double>(f[v]) * static_cast<double>(diff) * static_cast<double>(diff);
      g[v] = gscale * f[v] * diff;
    }
  } else {
    // Per element, as on the CPU: sq = Σ_j (p − a_j)² in double, lin = Σ_j (p − a_j) in C.
    double sq[V];
    C lin[V];
#pragma unroll
    for (int v = 0; v < V; ++v) {
      sq[v] = 0.0;
      lin[v] = C(0);
    }
    const int k = kOp == Op::kSqDist1 ? 1 : num_refs;
    for (int j = 0; j < k; ++j) {
      C a[V];
      load_lanes<T, kWide>(c.ref(j) + i0, lanes, a);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const C diff = p[v] - a[v];
        sq[v] += static_cast<double>(diff) * static_cast<double>(diff);
        lin[v] += diff;
      }
    }
#pragma unroll
    for (int v = 0; v < V; ++v) {
      if (!kWide && v >= lanes) break;
      acc += sq[v];
      g[v] = gscale * lin[v];
    }
  }
  if constexpr (kGrad != GradMode::kNone) {
    T* dst = c.grad + i0;
    if constexpr (kGrad == GradMode::kAccumulate) {
      C old[V];
      load_lanes<T, kWide>(dst, lanes, old);
#pragma unroll
      for (int v = 0; v < V; ++v) g[v] = old[v] + g[v];
    }
    store_lanes<T, kWide>(dst, lanes, g);
  }
}

// The launch's tensor that owns `chunk`: the last one whose first chunk is <= chunk. Every block
// thread runs the same search, so the parameter reads are uniform (broadcast) loads.
__device__ __forceinline__ int owner_of(const LaunchArgs& args, int64_t chunk) {
  int lo = 0, hi = args.num_tensors - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (args.chunk_begin[mid] <= chunk) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// One block per chunk of the launch: partials[chunk] = weight[t] · Σ_chunk (value terms), and the
// chunk's gradient when kGrad says so. partials points at this launch's first chunk.
template <typename T, Op kOp, GradMode kGrad>
__global__ void __launch_bounds__(kBlockThreads)
    penalty_chunks(const __grid_constant__ LaunchArgs args, const double* __restrict__ scale_dev,
                   double* __restrict__ partials) {
  using C = typename Traits<T>::C;
  constexpr int V = kLanes<T>;
  const int64_t chunk = blockIdx.x;
  const int t = owner_of(args, chunk);
  const int64_t begin = (chunk - args.chunk_begin[t]) * kChunkElems;
  const int n = static_cast<int>(min(static_cast<int64_t>(kChunkElems), args.numel[t] - begin));

  ChunkPtrs<T> c;
  c.slots = args.ptrs + static_cast<int64_t>(t) * args.ptr_stride;
  c.begin = begin;
  c.param = static_cast<const T*>(c.slots[0]) + begin;
  c.fisher = kOp == Op::kEwc ? static_cast<const T*>(c.slots[2]) + begin : nullptr;
  // The grad slot is the tensor's last one; it is stored const only because it shares the array.
  c.grad = kGrad != GradMode::kNone
               ? const_cast<T*>(static_cast<const T*>(c.slots[args.ptr_stride - 1])) + begin
               : nullptr;

  // Same expression, in the same order, as the CPU's gscale; the scale stays on the device.
  C gscale = C(0);
  if constexpr (kGrad != GradMode::kNone) {
    gscale = static_cast<C>(*scale_dev * args.weight[t] * 2.0 * args.inv_k);
  }

  // Thread i handles groups i, i + kBlockThreads, ...: consecutive threads read consecutive
  // 16-byte vectors (coalesced), and at most one group of the chunk, its last, is partial.
  const bool wide = args.wide[t];
  double acc = 0.0;
  for (int i0 = threadIdx.x * V; i0 < n; i0 += kBlockThreads * V) {
    if (wide && i0 + V <= n) {
      process_group<T, kOp, kGrad, true>(c, args.num_refs, i0, V, gscale, acc);
    } else {
      process_group<T, kOp, kGrad, false>(c, args.num_refs, i0, min(V, n - i0), gscale, acc);
    }
  }
  acc = block_sum<kBlockThreads>(acc);
  if (threadIdx.x == 0) partials[chunk] = args.weight[t] * acc;
}

// The value: factor · Σ partials, each thread summing a fixed strided subset in order, then a
// fixed tree over the threads.
__global__ void __launch_bounds__(kCombineThreads)
    combine_partials(const double* __restrict__ partials, int64_t count, double factor,
                     double* __restrict__ value_out) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kCombineThreads) acc += partials[i];
  acc = block_sum<kCombineThreads>(acc);
  if (threadIdx.x == 0) *value_out = acc * factor;
}

// ---- host side --------------------------------------------------------------------------------

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("atu: CUDA error in ") + what + ": " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

int64_t chunks_of(int64_t numel) { return (numel + kChunkElems - 1) / kChunkElems; }

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Pointer slots per tensor for this op and gradient mode: params, k refs, [fisher], [grad].
int64_t slots_per_tensor(Op op, int64_t num_refs, bool grad) {
  return 1 + num_refs + (op == Op::kEwc ? 1 : 0) + (grad ? 1 : 0);
}

// Fills partials[0, workspace_doubles(plan)) in as many launches as the plan needs.
template <typename T, Op kOp, GradMode kGrad>
void run_chunks(const PenaltyPlan& plan, const double* scale_dev, double* partials,
                cudaStream_t stream) {
  constexpr bool kWantGrad = kGrad != GradMode::kNone;
  const int stride = static_cast<int>(slots_per_tensor(kOp, plan.num_refs, kWantGrad));
  const int per_launch = std::min(kMaxTensorsPerLaunch, kMaxPointersPerLaunch / stride);
  const int64_t num_tensors = plan.num_tensors;

  // Host-side staging of the kernel parameters (about 29 KB). The launch copies them, so the
  // struct is refilled right after each launch. Only the filled part is ever read by a kernel.
  LaunchArgs args{};
  args.inv_k = kOp == Op::kEwc ? 1.0 : 1.0 / static_cast<double>(plan.num_refs);
  args.num_refs = static_cast<int>(plan.num_refs);
  args.ptr_stride = stride;
  args.num_tensors = 0;
  args.chunk_begin[0] = 0;

  int64_t launch_first_chunk = 0;  // where this launch's chunks start in partials
  auto launch = [&]() {
    const int64_t grid = args.chunk_begin[args.num_tensors];
    if (grid > INT_MAX) throw std::runtime_error("atu: too many chunks for one CUDA launch");
    penalty_chunks<T, kOp, kGrad><<<static_cast<unsigned>(grid), kBlockThreads, 0, stream>>>(
        args, scale_dev, partials + launch_first_chunk);
    check(cudaGetLastError(), "launching the penalty chunk kernel");
    launch_first_chunk += grid;
    args.num_tensors = 0;
  };

  for (int64_t t = 0; t < num_tensors; ++t) {
    if (plan.numel[t] == 0) continue;  // no chunks; its pointers may be null
    if (args.num_tensors == per_launch) launch();
    const int i = args.num_tensors++;
    args.numel[i] = plan.numel[t];
    args.weight[i] = plan.weight[t];
    args.chunk_begin[i + 1] = args.chunk_begin[i] + chunks_of(plan.numel[t]);
    const void** slot = args.ptrs + static_cast<int64_t>(i) * stride;
    slot[0] = plan.params[t];
    for (int64_t j = 0; j < plan.num_refs; ++j) slot[1 + j] = plan.refs[j * num_tensors + t];
    if (kOp == Op::kEwc) slot[1 + plan.num_refs] = plan.fisher[t];
    if (kWantGrad) slot[stride - 1] = plan.grads[t];
    bool wide = true;
    for (int s = 0; s < stride; ++s) wide = wide && aligned16(slot[s]);
    args.wide[i] = wide;
  }
  if (args.num_tensors > 0) launch();
}

template <typename T, Op kOp>
void run_mode(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
              double* partials, cudaStream_t stream) {
  if (plan.grads == nullptr) {
    run_chunks<T, kOp, GradMode::kNone>(plan, scale_dev, partials, stream);
  } else if (accumulate) {
    run_chunks<T, kOp, GradMode::kAccumulate>(plan, scale_dev, partials, stream);
  } else {
    run_chunks<T, kOp, GradMode::kWrite>(plan, scale_dev, partials, stream);
  }
}

template <Op kOp>
void run_dtype(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
               double* partials, cudaStream_t stream) {
  switch (plan.dtype) {
    case DType::kFloat32: return run_mode<float, kOp>(plan, scale_dev, accumulate, partials, stream);
    case DType::kFloat64: return run_mode<double, kOp>(plan, scale_dev, accumulate, partials, stream);
    case DType::kFloat16: return run_mode<__half, kOp>(plan, scale_dev, accumulate, partials, stream);
    case DType::kBFloat16:
      return run_mode<__nv_bfloat16, kOp>(plan, scale_dev, accumulate, partials, stream);
  }
  throw std::runtime_error("atu: unsupported dtype in the CUDA penalty plan");
}

// Checks what the kernels rely on; the torch layer has validated shapes, dtypes and devices.
void validate(const PenaltyPlan& plan, Op op, const double* scale_dev, double* value_out_dev,
              double* workspace_dev) {
  if (plan.num_tensors < 0) throw std::runtime_error("atu: negative tensor count in the plan");
  if (plan.num_refs < 1) throw std::runtime_error("atu: the plan needs at least one reference");
  if (value_out_dev == nullptr) throw std::runtime_error("atu: no device buffer for the value");
  if (workspace_dev == nullptr && workspace_doubles(plan) > 0) {
    throw std::runtime_error("atu: no CUDA workspace given");
  }
  if (plan.grads != nullptr && scale_dev == nullptr) {
    throw std::runtime_error("atu: a gradient needs the scale on the device");
  }
  if (op == Op::kEwc && (plan.fisher == nullptr || plan.num_refs != 1)) {
    throw std::runtime_error("atu: EWC needs fisher and exactly one anchor per tensor");
  }
  // One tensor's pointers must fit one launch's parameter struct.
  const bool grad = plan.grads != nullptr;
  if (slots_per_tensor(op, plan.num_refs, grad) > kMaxPointersPerLaunch) {
    throw std::runtime_error(
        "atu: the CUDA kernels take at most " +
        std::to_string(kMaxPointersPerLaunch - slots_per_tensor(op, 0, grad)) +
        " references per tensor, got " + std::to_string(plan.num_refs));
  }
}

// The chunk pass, then the combine, both on `stream`.
template <Op kOp>
void run_penalty(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
                 double* value_out_dev, double* workspace_dev, cudaStream_t stream,
                 double factor) {
  run_dtype<kOp>(plan, scale_dev, accumulate, workspace_dev, stream);
  combine_partials<<<1, kCombineThreads, 0, stream>>>(workspace_dev, workspace_doubles(plan),
                                                      factor, value_out_dev);
  check(cudaGetLastError(), "launching the penalty combine kernel");
}

}  // namespace

int64_t workspace_doubles(const PenaltyPlan& plan) {
  int64_t total = 0;
  for (int64_t t = 0; t < plan.num_tensors; ++t) total += chunks_of(plan.numel[t]);
  return total;
}

void sq_dist(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
             double* value_out_dev, double* workspace_dev, cudaStream_t stream) {
  const Op op = plan.num_refs == 1 ? Op::kSqDist1 : Op::kSqDistK;
  validate(plan, op, scale_dev, value_out_dev, workspace_dev);
  // As on the CPU, the 1/k of the value is applied once, to the total.
  const double inv_k = 1.0 / static_cast<double>(plan.num_refs);
  if (op == Op::kSqDist1) {
    run_penalty<Op::kSqDist1>(plan, scale_dev, accumulate, value_out_dev, workspace_dev, stream,
                              inv_k);
  } else {
    run_penalty<Op::kSqDistK>(plan, scale_dev, accumulate, value_out_dev, workspace_dev, stream,
                              inv_k);
  }
}

void ewc(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
         double* value_out_dev, double* workspace_dev, cudaStream_t stream) {
  validate(plan, Op::kEwc, scale_dev, value_out_dev, workspace_dev);
  run_penalty<Op::kEwc>(plan, scale_dev, accumulate, value_out_dev, workspace_dev, stream, 1.0);
}

}  // namespace atu::cuda
