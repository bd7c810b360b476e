// CUDA registrations of the fused bias + activation ops (schemas in schemas.cpp): the same
// arguments and semantics as the CPU registrations, enqueued on the current stream of x's device.
#include "cuda/bias_act.h"
#include "torch/bias_act_args.h"
#include "torch/device_cuda.h"

namespace atu {
namespace {

Tensor run_on_gpu(const BiasActCall& call, const char* op) {
  run_kernel(op, [&] { cuda::bias_act(call.args(), current_stream(call.out())); });
  return call.out();
}

Tensor bias_act_cuda(Tensor x, std::optional<Tensor> b, int64_t dim, std::string act, double alpha,
                     double gain, std::optional<double> clamp) {
  const CudaDeviceGuard guard(x, "atu::bias_act");
  return run_on_gpu(BiasActCall(nullptr, x, b, dim, act, alpha, gain, clamp, 0), "atu::bias_act");
}

Tensor bias_act_grad_cuda(Tensor dy, Tensor x, std::optional<Tensor> b, int64_t dim, std::string act,
                          double alpha, double gain, std::optional<double> clamp, int64_t order) {
  const CudaDeviceGuard guard(x, "atu::bias_act_grad");
  if (order < 1) fail_value("atu::bias_act_grad: order must be >= 1, got ", order);
  return run_on_gpu(BiasActCall(&dy, x, b, dim, act, alpha, gain, clamp, order), "atu::bias_act_grad");
}

Tensor bias_act_grad_from_output_cuda(Tensor dy, Tensor y, std::string act, double alpha, double gain,
                                      std::optional<double> clamp) {
  const CudaDeviceGuard guard(y, "atu::bias_act_grad_from_output");
  return run_on_gpu(BiasActCall(&dy, y, std::nullopt, 0, act, alpha, gain, clamp, bias_act::kOrderFromOutput),
                    "atu::bias_act_grad_from_output");
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CUDA, m) {
  m.impl("bias_act", TORCH_BOX(&bias_act_cuda));
  m.impl("bias_act_grad", TORCH_BOX(&bias_act_grad_cuda));
  m.impl("bias_act_grad_from_output", TORCH_BOX(&bias_act_grad_from_output_cuda));
}

}  // namespace atu
