// What the CUDA registrations (*_cuda.cpp) need of torch's CUDA state, through the stable C shim:
// the device guard, the current stream of a device, and the dtype mapping of csrc/cuda.
#pragma once
#include <cuda_runtime.h>
#include <torch/csrc/stable/accelerator.h>

#include <optional>

#include "cuda/upfirdn2d.h"  // cuda::DataType
#include "torch/stable.h"

// Declared by torch's AOTI shim only when torch's own build defines USE_CUDA; exported by every
// CUDA build of libtorch (libtorch_cuda), part of the C shim the stable ABI keeps.
extern "C" AOTITorchError aoti_torch_get_current_cuda_stream(int32_t device_index, void** ret_stream);

namespace atu {

// Makes t's device current for the guard's lifetime; refuses a tensor that is not on a CUDA device.
class CudaDeviceGuard {
 public:
  CudaDeviceGuard(const Tensor& t, const char* op);

 private:
  torch::stable::accelerator::DeviceGuard guard_;
};

// The stream torch enqueues work for `t`'s device on: the one the kernels must run on.
cudaStream_t current_stream(const Tensor& t);

// Runs launch() and turns a kernel's launch error (std::runtime_error from csrc/cuda) into a
// RuntimeError that names `op`.
template <class Launch>
void run_kernel(const char* op, const Launch& launch) {
  try {
    launch();
  } catch (const std::runtime_error& e) {
    fail(op, ": ", e.what());
  }
}

inline cuda::DataType cuda_data_type(ScalarType t, const char* op) {
  switch (t) {
    case ScalarType::Float: return cuda::DataType::kFloat32;
    case ScalarType::Double: return cuda::DataType::kFloat64;
    case ScalarType::Half: return cuda::DataType::kFloat16;
    case ScalarType::BFloat16: return cuda::DataType::kBFloat16;
    default: fail_value(op, ": unsupported dtype ", name_of(t));
  }
}

}  // namespace atu
