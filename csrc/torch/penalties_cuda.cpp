// CUDA registrations of the penalty ops: the same six ops, signatures and semantics as
// penalties_cpu.cpp, running the kernels of csrc/cuda on the current stream of the inputs' device.
// Nothing here waits for the GPU: the value stays a device tensor and the kernels read the scale
// from device memory (only a scale passed on the CPU costs a small host-to-device copy).
#include <optional>

#include "cuda/penalties.h"
#include "torch/device_cuda.h"
#include "torch/penalties_args.h"

namespace atu {
namespace {

// The kernels' entry points (cuda::sq_dist, cuda::ewc) share one signature.
using CudaPenalty = void (*)(const PenaltyPlan&, const double*, bool, double*, double*, cudaStream_t);

// Runs `penalty` over the builder's plan and returns its value as a 0-dim tensor of
// value_dtype(params dtype) on the params' device. `scale` is used only when grads are set.
// The caller's guard has made the params' device current.
Tensor run_penalty(CudaPenalty penalty, PlanBuilder& b, const Tensor* scale, bool accumulate) {
  const Tensor& like = b.first_param();
  if (!like.is_cuda()) fail_value("atu: the CUDA kernels got params on ", name_of(like.device()));

  // The scale as one float64 on the device: a no-op for such a tensor, else an enqueued copy.
  std::optional<Tensor> scale_dev;
  if (b.plan().grads != nullptr) {
    if (scale->numel() != 1) fail_value("atu: scale must have one element, got ", scale->numel());
    scale_dev = torch::stable::contiguous(torch::stable::to(*scale, ScalarType::Double, std::nullopt, like.device()));
  }
  // Both come from the caching allocator on the current stream, the one the kernels run on,
  // so freeing the workspace when this function returns is safe.
  Tensor value = torch::stable::empty({}, ScalarType::Double, std::nullopt, like.device());
  Tensor workspace = torch::stable::empty({cuda::workspace_doubles(b.plan())}, ScalarType::Double,
                                          std::nullopt, like.device());
  run_kernel("atu: penalty", [&] {
    penalty(b.plan(), scale_dev ? scale_dev->const_data_ptr<double>() : nullptr, accumulate,
            value.mutable_data_ptr<double>(), workspace.mutable_data_ptr<double>(), current_stream(like));
  });
  b.finish();
  return torch::stable::to(value, value_dtype(like.scalar_type()));
}

// The device each op makes current for everything it does (contiguous copies of inputs,
// allocations, the kernels on its current stream): that of params[0]. None when params is empty
// or params[0] is not a CUDA tensor (another argument sent the op here); PlanBuilder and
// run_penalty then report the mistake.
std::optional<torch::stable::accelerator::DeviceGuard> guard_for(const TensorList& params) {
  if (params.empty() || !params[0].is_cuda()) return std::nullopt;
  return std::optional<torch::stable::accelerator::DeviceGuard>(std::in_place, params[0].get_device_index());
}

Tensor sq_dist(TensorList params, TensorList refs, int64_t num_refs, std::string reduction) {
  const auto guard = guard_for(params);
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, reduction));
  return run_penalty(&cuda::sq_dist, b, nullptr, false);
}

Tensor sq_dist_value_and_grad_(TensorList grads, TensorList params, TensorList refs, int64_t num_refs,
                               std::string reduction, Tensor scale, bool accumulate) {
  const auto guard = guard_for(params);
  PlanBuilder b(params, refs, num_refs, reduction_weights(params, reduction));
  b.set_grads(grads, accumulate);
  return run_penalty(&cuda::sq_dist, b, &scale, accumulate);
}

TensorList sq_dist_backward(Tensor grad, TensorList params, TensorList refs, int64_t num_refs,
                            std::string reduction) {
  const auto guard = guard_for(params);
  return gradient_of<&sq_dist_value_and_grad_>(grad, params, refs, num_refs, reduction);
}

Tensor ewc_penalty(TensorList params, TensorList anchor, TensorList fisher, double lam) {
  const auto guard = guard_for(params);
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  return run_penalty(&cuda::ewc, b, nullptr, false);
}

Tensor ewc_value_and_grad_(TensorList grads, TensorList params, TensorList anchor, TensorList fisher,
                           double lam, Tensor scale, bool accumulate) {
  const auto guard = guard_for(params);
  PlanBuilder b(params, anchor, 1, ewc_weights(params, lam));
  b.set_fisher(fisher);
  b.set_grads(grads, accumulate);
  return run_penalty(&cuda::ewc, b, &scale, accumulate);
}

TensorList ewc_penalty_backward(Tensor grad, TensorList params, TensorList anchor, TensorList fisher,
                                double lam) {
  const auto guard = guard_for(params);
  return gradient_of<&ewc_value_and_grad_>(grad, params, anchor, fisher, lam);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(atu, CUDA, m) { ATU_IMPL_PENALTY_OPS(m); }

}  // namespace atu
