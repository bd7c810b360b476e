// CUDA registrations of the penalty ops: the same six ops, signatures and semantics as
// penalties_cpu.cpp, running the kernels of csrc/cuda on the current stream of the inputs' device.
// Nothing here waits for the GPU: the value stays a device tensor and the kernels read the scale
// from device memory (only a scale passed on the CPU costs a small host-to-device copy).
//
// c10/cuda's stream and guard headers rather than ATen/cuda/CUDAContext.h: the latter pulls in
// the cuBLAS/cuSPARSE/cuSOLVER headers, which these ops do not use and which a toolkit with only
// the runtime (scripts/check_cuda_compiles.sh on a GPU-less machine) does not have.
// at::cuda::getCurrentCUDAStream is c10::cuda's, re-exported by torch's macros header.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/penalties.h"
#include "torch/penalties_args.h"

namespace atu {
namespace {

// The kernels' entry points (cuda::sq_dist, cuda::ewc) share one signature.
using CudaPenalty = void (*)(const PenaltyPlan&, const double*, bool, double*, double*,
                             cudaStream_t);

// Runs `penalty` over the builder's plan and returns its value as a 0-dim tensor of
// value_dtype(params dtype) on the params' device. `scale` is used only when grads are set.
// The caller's guard has made the params' device current.
at::Tensor run_penalty(CudaPenalty penalty, PlanBuilder& b, const at::Tensor* scale,
                       bool accumulate) {
  const at::Tensor& like = b.first_param();
  TORCH_CHECK(like.is_cuda(), "atu: the CUDA kernels got params on ", like.device());
  const at::TensorOptions f64 = like.options().dtype(at::kDouble);

  // The scale as one float64 on the device: a no-op for such a tensor, else an enqueued copy.
  at::Tensor scale_dev;
  if (b.plan().grads != nullptr) {
    TORCH_CHECK(scale->numel() == 1, "atu: scale must have one element, got ", scale->numel());
    scale_dev = scale->to(like.device(), at::kDouble).contiguous();
  }
  // Both come from the caching allocator on the current stream, the one the kernels run on,
  // so freeing the workspace when this function returns is safe.
  at::Tensor value = at::empty({}, f64);
  at::Tensor workspace = at::empty({cuda::workspace_doubles(b.plan())}, f64);
  try {
    penalty(b.plan(), scale_dev.defined() ? scale_dev.const_data_ptr<double>() : nullptr,
            accumulate, value.mutable_data_ptr<double>(), workspace.mutable_data_ptr<double>(),
            at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, e.what());  // surfaces as a RuntimeError with the kernels' message
  }
  b.finish();
  return value.to(value_dtype(like.scalar_type()));
}

// The device that each op makes current for everything it does (contiguous copies of inputs,
// allocations, the kernels on its current stream): that of params[0]. None when params is empty
// or params[0] is not a CUDA tensor (another argument sent the op here); PlanBuilder and
// run_penalty then report the mistake.
std::optional<at::Device> cuda_device_of(at::TensorList params) {
  if (params.empty() || !params[0].is_cuda()) return std::nullopt;
  return params[0].device();
}

at::Tensor sq_dist(at::TensorList params, at::TensorList refs, int64_t num_refs,
                   c10::string_view reduction) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, std::string(reduction)));
  return run_penalty(&cuda::sq_dist, b, nullptr, false);
}

at::Tensor sq_dist_value_and_grad_(at::TensorList grads, at::TensorList params,
                                   at::TensorList refs, int64_t num_refs,
                                   c10::string_view reduction, const at::Tensor& scale,
                                   bool accumulate) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, std::string(reduction)));
  b.set_grads(grads, accumulate);
  return run_penalty(&cuda::sq_dist, b, &scale, accumulate);
}

std::vector<at::Tensor> sq_dist_backward(const at::Tensor& grad, at::TensorList params,
                                         at::TensorList refs, int64_t num_refs,
                                         c10::string_view reduction) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  std::vector<at::Tensor> out = fresh_like(params);
  sq_dist_value_and_grad_(out, params, refs, num_refs, reduction, grad, false);
  return out;
}

at::Tensor ewc_penalty(at::TensorList params, at::TensorList anchor, at::TensorList fisher,
                       double lam) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  return run_penalty(&cuda::ewc, b, nullptr, false);
}

at::Tensor ewc_value_and_grad_(at::TensorList grads, at::TensorList params, at::TensorList anchor,
                               at::TensorList fisher, double lam, const at::Tensor& scale,
                               bool accumulate) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  b.set_grads(grads, accumulate);
  return run_penalty(&cuda::ewc, b, &scale, accumulate);
}

std::vector<at::Tensor> ewc_penalty_backward(const at::Tensor& grad, at::TensorList params,
                                             at::TensorList anchor, at::TensorList fisher,
                                             double lam) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(params));
  std::vector<at::Tensor> out = fresh_like(params);
  ewc_value_and_grad_(out, params, anchor, fisher, lam, grad, false);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CUDA, m) {
  m.impl("sq_dist", &sq_dist);
  m.impl("sq_dist_backward", &sq_dist_backward);
  m.impl("sq_dist_value_and_grad_", &sq_dist_value_and_grad_);
  m.impl("ewc_penalty", &ewc_penalty);
  m.impl("ewc_penalty_backward", &ewc_penalty_backward);
  m.impl("ewc_value_and_grad_", &ewc_value_and_grad_);
}

}  // namespace atu
