// CUDA upfirdn2d. One thread block computes a kTileH × kTileW tile of output samples of one
// (n, c) plane: it stages the filter and the input samples that the tile reads in shared memory
// (zeros outside the input, so the inner loop needs no bounds checks), then every thread
// evaluates its outputs with the polyphase rule, visiting only the taps that land on real input
// samples. The kernel is templated on up, down and filter size (equal on both axes) for the
// configurations StyleGAN2 uses, so those loops unroll; anything else runs the same code with the
// sizes read at run time (template arguments 0).
#include "cuda/upfirdn2d.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace atu::cuda {
namespace {

constexpr int kTileH = 16;
constexpr int kTileW = 32;
constexpr int kThreads = 256;  // kTileH · kTileW / kThreads = 2 outputs per thread
constexpr int kMaxPhaseTaps = 64;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(float v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ double from_acc_double(double v) { return v; }

template <typename T, typename Acc>
__device__ __forceinline__ T store_value(Acc v) {
  if constexpr (sizeof(Acc) == sizeof(double)) {
    return from_acc_double(v);
  } else {
    return from_acc<T>(v);
  }
}

// floor(a / b) for b > 0 and any sign of a.
__host__ __device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Sizes of the shared-memory input tile, the same for every block of a launch.
struct TileShape {
  int h, w;
};

__host__ TileShape tile_shape(const Upfirdn2dParams& p) {
  // Outputs o0..o0+T−1 read upsampled positions o0·down − pad0 .. (o0+T−1)·down − pad0 + f − 1,
  // that is at most ((T−1)·down + f − 1)/up + 1 input samples (+1 for the rounding of the start).
  const int h = ((kTileH - 1) * p.down_y + p.f_h - 1) / p.up_y + 2;
  const int w = ((kTileW - 1) * p.down_x + p.f_w - 1) / p.up_x + 2;
  return {h, w};
}

template <typename T, typename Acc, int kUp, int kDown, int kF>
__global__ void __launch_bounds__(kThreads)
upfirdn2d_kernel(const Upfirdn2dParams p, const TileShape tile, const T* __restrict__ x,
                 const Acc* __restrict__ filter, T* __restrict__ y) {
  extern __shared__ unsigned char shared_raw[];
  const int up_x = kUp ? kUp : p.up_x, up_y = kUp ? kUp : p.up_y;
  const int down_x = kDown ? kDown : p.down_x, down_y = kDown ? kDown : p.down_y;
  const int f_w = kF ? kF : p.f_w, f_h = kF ? kF : p.f_h;
  Acc* f_s = reinterpret_cast<Acc*>(shared_raw);
  Acc* x_s = f_s + f_h * f_w;

  for (int i = threadIdx.x; i < f_h * f_w; i += kThreads) f_s[i] = filter[i];

  const int64_t ox0 = static_cast<int64_t>(blockIdx.x) * kTileW;
  const int64_t oy0 = static_cast<int64_t>(blockIdx.y) * kTileH;
  // First input sample the tile can read, per axis (ceil of the first upsampled position / up).
  const int64_t ix_lo = -floor_div(-(ox0 * down_x - p.pad_x0), up_x);
  const int64_t iy_lo = -floor_div(-(oy0 * down_y - p.pad_y0), up_y);

  for (int64_t plane = blockIdx.z; plane < p.batch * p.channels; plane += gridDim.z) {
    const int64_t n = plane / p.channels, c = plane % p.channels;
    const T* xp = x + n * p.x_stride[0] + c * p.x_stride[1];
    T* yp = y + n * p.y_stride[0] + c * p.y_stride[1];
    __syncthreads();  // the previous plane's tile is no longer read
    for (int i = threadIdx.x; i < tile.h * tile.w; i += kThreads) {
      const int64_t iy = iy_lo + i / tile.w, ix = ix_lo + i % tile.w;
      const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
      x_s[i] = inside ? to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]) : Acc(0);
    }
    __syncthreads();

    for (int k = threadIdx.x; k < kTileH * kTileW; k += kThreads) {
      const int64_t oy = oy0 + k / kTileW, ox = ox0 + k % kTileW;
      if (oy >= p.out_h || ox >= p.out_w) continue;
      // Taps t with (o·down − pad0 + t) divisible by up land on input o·down − pad0 + t) / up.
      const int64_t by = oy * down_y - p.pad_y0, bx = ox * down_x - p.pad_x0;
      const int ty0 = static_cast<int>(floor_div(by + up_y - 1, up_y) * up_y - by);
      const int tx0 = static_cast<int>(floor_div(bx + up_x - 1, up_x) * up_x - bx);
      const int64_t sy0 = (by + ty0) / up_y - iy_lo, sx0 = (bx + tx0) / up_x - ix_lo;
      Acc acc = 0;
      // Taps per phase: a compile-time constant for the StyleGAN2 variants (the compiler unrolls
      // those loops fully), a run-time count otherwise. Unrolling the run-time variant up to
      // kMaxPhaseTaps² iterations made this file take minutes to compile for nothing.
      const int taps_y = kF ? (kF + kUp - 1) / kUp : (f_h + up_y - 1) / up_y;
      const int taps_x = kF ? (kF + kUp - 1) / kUp : (f_w + up_x - 1) / up_x;
      for (int jy = 0; jy < taps_y; ++jy) {
        const int ty = ty0 + jy * up_y;
        if (ty >= f_h) break;
        const Acc* frow = f_s + ty * f_w;
        const Acc* xrow = x_s + (sy0 + jy) * tile.w + sx0;
        for (int jx = 0; jx < taps_x; ++jx) {
          const int tx = tx0 + jx * up_x;
          if (tx >= f_w) break;
          acc += frow[tx] * xrow[jx];
        }
      }
      yp[oy * p.y_stride[2] + ox * p.y_stride[3]] = store_value<T, Acc>(acc * static_cast<Acc>(p.gain));
    }
  }
}

template <typename T, typename Acc, int kUp, int kDown, int kF>
void launch(const Upfirdn2dParams& p, const void* x, const void* f, void* y, cudaStream_t stream) {
  const TileShape tile = tile_shape(p);
  const size_t shared = sizeof(Acc) * (static_cast<size_t>(p.f_h) * p.f_w + static_cast<size_t>(tile.h) * tile.w);
  auto kernel = &upfirdn2d_kernel<T, Acc, kUp, kDown, kF>;
  if (shared > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(shared));
    if (err != cudaSuccess) throw std::runtime_error(std::string("atu upfirdn2d: ") + cudaGetErrorString(err));
  }
  const int64_t planes = p.batch * p.channels;
  const dim3 grid(static_cast<unsigned>((p.out_w + kTileW - 1) / kTileW),
                  static_cast<unsigned>((p.out_h + kTileH - 1) / kTileH),
                  static_cast<unsigned>(planes < 65535 ? planes : 65535));
  if (grid.y > 65535) throw std::runtime_error("atu upfirdn2d: output too tall for one launch");
  kernel<<<grid, kThreads, shared, stream>>>(p, tile, static_cast<const T*>(x), static_cast<const Acc*>(f),
                                             static_cast<T*>(y));
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("atu upfirdn2d launch: ") + cudaGetErrorString(err));
}

// The StyleGAN2 configurations get compile-time sizes; everything else the run-time ones.
template <typename T, typename Acc>
void dispatch(const Upfirdn2dParams& p, const void* x, const void* f, void* y, cudaStream_t stream) {
  const bool square = p.up_x == p.up_y && p.down_x == p.down_y && p.f_h == p.f_w;
  if (square && p.f_w == 4 && p.up_x == 1 && p.down_x == 1) return launch<T, Acc, 1, 1, 4>(p, x, f, y, stream);
  if (square && p.f_w == 4 && p.up_x == 2 && p.down_x == 1) return launch<T, Acc, 2, 1, 4>(p, x, f, y, stream);
  if (square && p.f_w == 4 && p.up_x == 1 && p.down_x == 2) return launch<T, Acc, 1, 2, 4>(p, x, f, y, stream);
  return launch<T, Acc, 0, 0, 0>(p, x, f, y, stream);
}

}  // namespace

void upfirdn2d(const Upfirdn2dParams& p, DataType dtype, const void* x, const void* filter, void* y,
               cudaStream_t stream) {
  if (p.separable) throw std::runtime_error("atu upfirdn2d (CUDA): expects a 2-D filter");
  if (p.batch * p.channels == 0 || p.out_h * p.out_w == 0) return;
  // The run-time variant's tap loops stop at kMaxPhaseTaps taps per axis and phase.
  if ((p.f_h + p.up_y - 1) / p.up_y > kMaxPhaseTaps || (p.f_w + p.up_x - 1) / p.up_x > kMaxPhaseTaps) {
    throw std::runtime_error("atu upfirdn2d (CUDA): more than 64 filter taps per phase");
  }
  switch (dtype) {
    case DataType::kFloat32: return dispatch<float, float>(p, x, filter, y, stream);
    case DataType::kFloat64: return dispatch<double, double>(p, x, filter, y, stream);
    case DataType::kFloat16: return dispatch<__half, float>(p, x, filter, y, stream);
    case DataType::kBFloat16: return dispatch<__nv_bfloat16, float>(p, x, filter, y, stream);
  }
  throw std::runtime_error("atu upfirdn2d (CUDA): unknown dtype");
}

}  // namespace atu::cuda
