// Arguments of atu::modulate_weight -> ModulateParams, shared by the CPU and CUDA registrations.
// python/atu_ext/modulated_conv.py validates with readable messages first; these checks guard direct
// torch.ops.atu calls.
#pragma once
#include <ATen/ATen.h>

#include "modulate_params.h"

namespace atu {

inline ModulateParams modulate_params(const at::Tensor& weight, const at::Tensor& styles,
                                      bool demodulate, double eps) {
  TORCH_CHECK(weight.dim() == 4, "atu::modulate_weight: weight must be [O, I, kh, kw], got ", weight.sizes());
  TORCH_CHECK(styles.dim() == 2 && styles.size(1) == weight.size(1),
              "atu::modulate_weight: styles must be [N, I] with I = weight.size(1), got ", styles.sizes());
  TORCH_CHECK(styles.scalar_type() == weight.scalar_type() && styles.device() == weight.device(),
              "atu::modulate_weight: weight and styles must share dtype and device");
  ModulateParams p;
  p.batch = styles.size(0);
  p.out_channels = weight.size(0);
  p.in_channels = weight.size(1);
  p.kernel_elems = weight.size(2) * weight.size(3);
  p.demodulate = demodulate;
  p.eps = eps;
  return p;
}

inline std::tuple<at::Tensor, at::Tensor> modulate_outputs(const at::Tensor& weight, const ModulateParams& p) {
  return {at::empty({p.batch, p.out_channels, p.in_channels, weight.size(2), weight.size(3)}, weight.options()),
          at::empty({p.batch, p.out_channels}, weight.options())};
}

}  // namespace atu
