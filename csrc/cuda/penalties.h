// CUDA kernels of the parameter-space penalties (the GPU twin of cpu/penalties.h).
//
// Torch-free on purpose, like the CPU kernels: they take a PenaltyPlan whose pointer arrays are
// host arrays holding device pointers, plus a few device buffers the caller allocates. Only
// csrc/torch/penalties_cuda.cpp knows about tensors, devices and streams of torch.
//
// Everything is enqueued on `stream`; nothing synchronises with the host. Results are
// bit-identical from run to run: per-chunk float64 partials are combined in a fixed order and no
// floating-point atomics are used. Errors (invalid plan, failed launch) throw std::runtime_error.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "penalties_params.h"

namespace atu::cuda {

// Size, in doubles, of the workspace that sq_dist/ewc need for `plan`: one float64 partial per
// chunk of kChunkElems elements. May be 0 (every tensor empty); the workspace may then be null.
int64_t workspace_doubles(const PenaltyPlan& plan);

// Writes the value (see penalties_params.h) as one double to *value_out_dev. With plan.grads set,
// also writes (accumulate=false) or adds (accumulate=true) scale · gradient into the grads in the
// same pass over memory; the scale is read on the device from *scale_dev (a single double), which
// may be null when plan.grads is null. workspace_dev holds workspace_doubles(plan) doubles.
void sq_dist(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
             double* value_out_dev, double* workspace_dev, cudaStream_t stream);

// Same contract for the EWC penalty: plan.fisher must be set and plan.num_refs must be 1.
void ewc(const PenaltyPlan& plan, const double* scale_dev, bool accumulate,
         double* value_out_dev, double* workspace_dev, cudaStream_t stream);

}  // namespace atu::cuda
