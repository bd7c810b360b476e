// Torch tensors -> bias_act::Args: the one place that knows both torch and the kernels' flat view.
// Shared by the CPU (bias_act_cpu.cpp) and CUDA (bias_act_cuda.cpp) registrations.
#pragma once
#include <optional>
#include <string>

#include "bias_act_params.h"
#include "torch/stable.h"

namespace atu {

// The inputs of one bias_act / bias_act_grad call, brought into the layout the kernels need, and
// the freshly allocated output. `out` is empty_like(x): x's strides when x is dense, else x's
// suggested memory format (the fake kernels in python/atu_ext/bias_act.py allocate the same way).
// x and dy are used in place when they already have out's strides, else copied into that layout.
class BiasActCall {
 public:
  // dy is null for the forward (order 0). For order kOrderFromOutput, x is the forward's output
  // and b is absent. Checks what the Python layer has already checked, so
  // that a direct torch.ops.atu call cannot reach a kernel with inconsistent arguments.
  BiasActCall(const Tensor* dy, const Tensor& x, const std::optional<Tensor>& b, int64_t dim,
              const std::string& act, double alpha, double gain, std::optional<double> clamp,
              int64_t order);

  const bias_act::Args& args() const { return args_; }
  const Tensor& out() const { return out_; }

 private:
  Tensor x_, out_;
  std::optional<Tensor> b_, dy_;  // keep the (possibly copied) inputs alive while kernels run
  bias_act::Args args_;
};

}  // namespace atu
