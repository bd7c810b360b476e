// Arguments of atu::modulate_weight -> ModulateParams, shared by the CPU and CUDA registrations.
// python/atu_ext/modulated_conv.py validates with readable messages first; these checks guard direct
// torch.ops.atu calls.
#pragma once
#include <tuple>

#include "modulate_params.h"
#include "torch/stable.h"

namespace atu {

inline ModulateParams modulate_params(const Tensor& weight, const Tensor& styles, bool demodulate, double eps) {
  if (weight.dim() != 4) fail_value("atu::modulate_weight: weight must be [O, I, kh, kw], got ", shape_of(weight));
  if (styles.dim() != 2 || styles.size(1) != weight.size(1)) {
    fail_value("atu::modulate_weight: styles must be [N, I] with I = weight.size(1), got ", shape_of(styles));
  }
  if (styles.scalar_type() != weight.scalar_type() || styles.device() != weight.device()) {
    fail_value("atu::modulate_weight: weight and styles must share dtype and device");
  }
  ModulateParams p;
  p.batch = styles.size(0);
  p.out_channels = weight.size(0);
  p.in_channels = weight.size(1);
  p.kernel_elems = weight.size(2) * weight.size(3);
  p.demodulate = demodulate;
  p.eps = eps;
  return p;
}

inline std::tuple<Tensor, Tensor> modulate_outputs(const Tensor& weight, const ModulateParams& p) {
  return {torch::stable::empty({p.batch, p.out_channels, p.in_channels, weight.size(2), weight.size(3)},
                               weight.scalar_type(), std::nullopt, weight.device()),
          torch::stable::empty({p.batch, p.out_channels}, weight.scalar_type(), std::nullopt, weight.device())};
}

}  // namespace atu
