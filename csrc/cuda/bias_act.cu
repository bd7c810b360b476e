// CUDA kernel of the fused bias + activation: one grid-stride pass over the flat elements, one
// load of x (and dy) and one store per element, math in float32 for the 16-bit types.
//
// The activation is a template parameter (one kernel each); the derivative order and the clamp
// switch are uniform across the grid, so they are read at run time inside the kernel and select
// one of the specialised loops without divergence. The same element functions as the CPU kernel
// (bias_act_params.h) keep both in agreement.
#include "cuda/bias_act.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace atu::cuda {
namespace {

using bias_act::Act;
using bias_act::Args;

constexpr int kBlockThreads = 256;
// Enough blocks to fill any current GPU many times over; the loop strides over the rest.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

template <typename C, typename T>
__device__ __forceinline__ C load(const T* p, int64_t i) {
  return static_cast<C>(p[i]);
}
template <>
__device__ __forceinline__ float load<float, __half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
template <>
__device__ __forceinline__ float load<float, __nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

template <typename T, typename C> __device__ __forceinline__ T store_as(C v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half store_as<__half, float>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 store_as<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T, Act A, int K, bool kClamp>
__device__ void run(const Args& a) {
  using C = typename Compute<T>::type;
  const T* x = static_cast<const T*>(a.x);
  const T* dy = static_cast<const T*>(a.dy);
  const T* bias = static_cast<const T*>(a.bias);
  T* out = static_cast<T*>(a.out);
  const C alpha = static_cast<C>(a.alpha), gain = static_cast<C>(a.gain), clamp = static_cast<C>(a.clamp);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.numel; i += stride) {
    C z = load<C>(x, i);
    if (bias != nullptr) z += load<C>(bias, (i / a.channel_stride) % a.channels);
    const C d = K != 0 ? load<C>(dy, i) : C(0);
    out[i] = store_as<T>(bias_act::element<A, K, kClamp, C>(z, d, alpha, gain, clamp));
  }
}

template <typename T, Act A, int K>
__device__ void with_clamp(const Args& a) {
  if (a.clamp_on) {
    run<T, A, K, true>(a);
  } else {
    run<T, A, K, false>(a);
  }
}

template <typename T, Act A>
__global__ void __launch_bounds__(kBlockThreads) bias_act_kernel(const Args a) {
  if constexpr (bias_act::is_piecewise_linear(A)) {
    if (a.order == bias_act::kOrderFromOutput) {
      with_clamp<T, A, bias_act::kOrderFromOutput>(a);
      return;
    }
  }
  switch (a.order) {
    case 0: with_clamp<T, A, 0>(a); break;
    case 1: with_clamp<T, A, 1>(a); break;
    case 2: with_clamp<T, A, 2>(a); break;
    default: with_clamp<T, A, 3>(a); break;  // the host checks order <= kMaxOrder
  }
}

template <typename T, Act A>
void launch(const Args& a, cudaStream_t stream) {
  const int64_t blocks = std::min<int64_t>((a.numel + kBlockThreads - 1) / kBlockThreads, kMaxBlocks);
  bias_act_kernel<T, A><<<static_cast<unsigned>(blocks), kBlockThreads, 0, stream>>>(a);
}

template <typename T>
void launch_act(const Args& a, cudaStream_t stream) {
  switch (a.act) {
    case Act::kLinear: return launch<T, Act::kLinear>(a, stream);
    case Act::kRelu: return launch<T, Act::kRelu>(a, stream);
    case Act::kLrelu: return launch<T, Act::kLrelu>(a, stream);
    case Act::kTanh: return launch<T, Act::kTanh>(a, stream);
    case Act::kSigmoid: return launch<T, Act::kSigmoid>(a, stream);
    case Act::kElu: return launch<T, Act::kElu>(a, stream);
    case Act::kSelu: return launch<T, Act::kSelu>(a, stream);
    case Act::kSoftplus: return launch<T, Act::kSoftplus>(a, stream);
    case Act::kSwish: return launch<T, Act::kSwish>(a, stream);
  }
  throw std::runtime_error("atu::cuda::bias_act: unknown activation");
}

}  // namespace

void bias_act(const Args& a, cudaStream_t stream) {
  const bool from_output = a.order == bias_act::kOrderFromOutput && bias_act::is_piecewise_linear(a.act);
  if (!from_output && (a.order < 0 || a.order > bias_act::kMaxOrder)) {
    throw std::runtime_error("atu::cuda::bias_act: order " + std::to_string(a.order) + " out of range");
  }
  if (a.numel == 0) return;
  switch (a.dtype) {
    case DType::kFloat32: launch_act<float>(a, stream); break;
    case DType::kFloat64: launch_act<double>(a, stream); break;
    case DType::kFloat16: launch_act<__half>(a, stream); break;
    case DType::kBFloat16: launch_act<__nv_bfloat16>(a, stream); break;
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("atu::cuda::bias_act: kernel launch failed: ") + cudaGetErrorString(err));
  }
}

}  // namespace atu::cuda
