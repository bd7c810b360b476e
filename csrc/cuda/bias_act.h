// CUDA kernel of the fused bias + activation (the GPU twin of cpu/bias_act.h; see
// bias_act_params.h for what it computes). Torch-free: plain device pointers in bias_act::Args.
#pragma once
#include <cuda_runtime.h>

#include "bias_act_params.h"

namespace atu::cuda {

// Enqueues the kernel on `stream`; does not synchronise. float32 and float64 compute in their own
// precision, float16 and bfloat16 in float32. Any dense layout (contiguous, channels_last, ...):
// the channel of flat element i is (i / channel_stride) % channels. A failed launch throws
// std::runtime_error.
void bias_act(const bias_act::Args& args, cudaStream_t stream);

}  // namespace atu::cuda
