// CUDA fused modulation: one thread block per (n, o) row. Pass 1 writes a = weight · style and
// accumulates Σ a² per thread; a fixed-order shared-memory tree gives the row's sum; pass 2
// rescales the row (just written, so it is read back from L2) by the demodulation coefficient.
#include "cuda/modulate.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

namespace atu::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ double load(const double* p) { return *p; }
__device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(double* p, double v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
modulate_kernel(const ModulateParams p, const T* __restrict__ weight, const T* __restrict__ styles,
                T* __restrict__ w, T* __restrict__ d) {
  __shared__ Acc partial[kThreads];
  const int64_t r = blockIdx.x;  // (n, o) row
  const int64_t n = r / p.out_channels, o = r % p.out_channels;
  const int64_t K = p.kernel_elems, row = p.in_channels * K;
  const T* wrow = weight + o * row;
  const T* s = styles + n * p.in_channels;
  T* out = w + r * row;
  Acc sum = 0;
  for (int64_t j = threadIdx.x; j < row; j += kThreads) {
    const Acc v = load(wrow + j) * load(s + j / K);
    store(out + j, v);
    sum += v * v;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  const Acc coef = p.demodulate ? static_cast<Acc>(rsqrt(static_cast<double>(partial[0]) + p.eps)) : Acc(1);
  if (p.demodulate) {
    // Rescales the values computed above (not the rounded stores) for float16/bfloat16 accuracy.
    for (int64_t j = threadIdx.x; j < row; j += kThreads) store(out + j, load(wrow + j) * load(s + j / K) * coef);
  }
  if (threadIdx.x == 0) store(d + r, coef);
}

template <typename T, typename Acc>
void launch(const ModulateParams& p, const void* weight, const void* styles, void* w, void* d,
            cudaStream_t stream) {
  const int64_t rows = p.batch * p.out_channels;
  if (rows > 0x7fffffff) throw std::runtime_error("atu modulate (CUDA): too many rows");
  modulate_kernel<T, Acc><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      p, static_cast<const T*>(weight), static_cast<const T*>(styles), static_cast<T*>(w), static_cast<T*>(d));
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("atu modulate launch: ") + cudaGetErrorString(err));
}

}  // namespace

void modulate(const ModulateParams& p, DataType dtype, const void* weight, const void* styles,
              void* w, void* d, cudaStream_t stream) {
  if (p.batch * p.out_channels == 0) return;
  switch (dtype) {
    case DataType::kFloat32: return launch<float, float>(p, weight, styles, w, d, stream);
    case DataType::kFloat64: return launch<double, double>(p, weight, styles, w, d, stream);
    case DataType::kFloat16: return launch<__half, float>(p, weight, styles, w, d, stream);
    case DataType::kBFloat16: return launch<__nv_bfloat16, float>(p, weight, styles, w, d, stream);
  }
  throw std::runtime_error("atu modulate (CUDA): unknown dtype");
}

}  // namespace atu::cuda
