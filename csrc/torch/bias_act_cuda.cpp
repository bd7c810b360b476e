// CUDA registrations of the fused bias + activation ops (schemas in schemas.cpp): the same
// arguments and semantics as the CPU registrations, enqueued on the current stream of x's device.
//
// c10/cuda's guard and stream headers rather than ATen/cuda/CUDAContext.h, which pulls in the
// cuBLAS/cuSPARSE/cuSOLVER headers (see penalties_cuda.cpp).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <optional>
#include <stdexcept>

#include "cuda/bias_act.h"
#include "torch/bias_act_args.h"

namespace atu {
namespace {

at::Tensor run_on_gpu(const BiasActCall& call) {
  try {
    cuda::bias_act(call.args(), c10::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, e.what());  // surfaces as a RuntimeError with the kernel's message
  }
  return call.out();
}

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                         c10::string_view act, double alpha, double gain,
                         std::optional<double> clamp) {
  TORCH_CHECK(x.is_cuda(), "atu::bias_act: the CUDA kernel got x on ", x.device());
  const c10::cuda::CUDAGuard guard(x.device());
  return run_on_gpu(BiasActCall(nullptr, x, b, dim, act, alpha, gain, clamp, 0));
}

at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x,
                              const std::optional<at::Tensor>& b, int64_t dim,
                              c10::string_view act, double alpha, double gain,
                              std::optional<double> clamp, int64_t order) {
  TORCH_CHECK(x.is_cuda(), "atu::bias_act_grad: the CUDA kernel got x on ", x.device());
  TORCH_CHECK_VALUE(order >= 1, "atu::bias_act_grad: order must be >= 1, got ", order);
  const c10::cuda::CUDAGuard guard(x.device());
  return run_on_gpu(BiasActCall(&dy, x, b, dim, act, alpha, gain, clamp, order));
}

at::Tensor bias_act_grad_from_output_cuda(const at::Tensor& dy, const at::Tensor& y,
                                          c10::string_view act, double alpha, double gain,
                                          std::optional<double> clamp) {
  TORCH_CHECK(y.is_cuda(), "atu::bias_act_grad_from_output: the CUDA kernel got y on ", y.device());
  const c10::cuda::CUDAGuard guard(y.device());
  return run_on_gpu(
      BiasActCall(&dy, y, std::nullopt, 0, act, alpha, gain, clamp, bias_act::kOrderFromOutput));
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CUDA, m) {
  m.impl("bias_act", &bias_act_cuda);
  m.impl("bias_act_grad", &bias_act_grad_cuda);
  m.impl("bias_act_grad_from_output", &bias_act_grad_from_output_cuda);
}

}  // namespace atu
