// CUDA kernel of the fused modulation/demodulation (see modulate_params.h), torch-free.
// Contiguous arrays as on the CPU (weight [O, I, K], styles [N, I], w [N, O, I, K], d [N, O]),
// all of one dtype. float16/bfloat16 accumulate in float32, float32 too; float64 in float64.
// Each (n, o) row's sum is reduced in a fixed tree order: bit-identical run to run.
#pragma once
#include <cuda_runtime.h>

#include "cuda/upfirdn2d.h"  // DataType
#include "modulate_params.h"

namespace atu::cuda {

void modulate(const ModulateParams& p, DataType dtype, const void* weight, const void* styles,
              void* w, void* d, cudaStream_t stream);

}  // namespace atu::cuda
