#include "torch/device_cuda.h"

namespace atu {
namespace {

int32_t cuda_index(const Tensor& t, const char* op) {
  if (!t.is_cuda()) fail_value(op, " (CUDA): the CUDA kernel got a tensor on ", name_of(t.device()));
  return t.get_device_index();
}

}  // namespace

CudaDeviceGuard::CudaDeviceGuard(const Tensor& t, const char* op) : guard_(cuda_index(t, op)) {}

cudaStream_t current_stream(const Tensor& t) {
  void* stream = nullptr;
  STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(t.get_device_index(), &stream));
  return static_cast<cudaStream_t>(stream);
}

}  // namespace atu
