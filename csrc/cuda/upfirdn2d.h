// CUDA kernel of upfirdn2d (the GPU twin of cpu/upfirdn2d.h), torch-free.
//
// x and y are addressed through the element strides in the params, so contiguous and
// channels_last tensors (or any other strided [N, C, H, W]) work without copies. The filter is a
// 2-D [f_h, f_w] device array in correlation order (params.separable must be false: the caller
// expands a 1-D filter into f ⊗ f), float for float/half/bfloat16 data and double for double.
// float16/bfloat16 accumulate in float32. Everything runs on `stream`; errors throw
// std::runtime_error.
#pragma once
#include <cuda_runtime.h>

#include "upfirdn2d_params.h"

namespace atu::cuda {

enum class DataType { kFloat32, kFloat64, kFloat16, kBFloat16 };

void upfirdn2d(const Upfirdn2dParams& p, DataType dtype, const void* x, const void* filter, void* y,
               cudaStream_t stream);

}  // namespace atu::cuda
