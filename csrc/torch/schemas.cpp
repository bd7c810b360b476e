// The schemas of every atu op, in one place. Kernels are registered per device in
// <op>_{cpu,cuda}.cpp; fake kernels and autograd from Python, in python/atu_ext/<op>.py (penalties.py
// for the six penalty ops, modulated_conv.py for modulate_weight).
#include "torch/stable.h"

STABLE_TORCH_LIBRARY(atu, m) {
  // ---- parameter-space penalties (penalties_{cpu,cuda}.cpp)
  // d = Σ_t w_t · (1/k) Σ_j ||params[t] − refs[j·T + t]||², w_t from `reduction`.
  m.def("sq_dist(Tensor[] params, Tensor[] refs, int num_refs, str reduction) -> Tensor");
  // ∂d/∂params[t] · grad (grad: the 0-dim cotangent of d).
  m.def("sq_dist_backward(Tensor grad, Tensor[] params, Tensor[] refs, int num_refs, "
        "str reduction) -> Tensor[]");
  // Returns d and, in the same pass, writes (accumulate=False) or adds scale · ∂d/∂params into grads.
  m.def("sq_dist_value_and_grad_(Tensor(a!)[] grads, Tensor[] params, Tensor[] refs, "
        "int num_refs, str reduction, Tensor scale, bool accumulate) -> Tensor");
  // e = lam · Σ fisher · (params − anchor)².
  m.def("ewc_penalty(Tensor[] params, Tensor[] anchor, Tensor[] fisher, float lam) -> Tensor");
  m.def("ewc_penalty_backward(Tensor grad, Tensor[] params, Tensor[] anchor, Tensor[] fisher, "
        "float lam) -> Tensor[]");
  m.def("ewc_value_and_grad_(Tensor(a!)[] grads, Tensor[] params, Tensor[] anchor, "
        "Tensor[] fisher, float lam, Tensor scale, bool accumulate) -> Tensor");

  // ---- fused bias + activation (bias_act_{cpu,cuda}.cpp)
  // y = clamp(gain · act(x + b broadcast along dim), ±clamp); b and clamp optional.
  m.def("bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float? clamp) "
        "-> Tensor");
  // dy · gain · act⁽ᵒʳᵈᵉʳ⁾(x + b) where the forward was not clamped, 0 where it was; order 1..3.
  // Order 1 is the gradient of bias_act w.r.t. x; higher orders are that gradient's own gradients.
  m.def("bias_act_grad(Tensor dy, Tensor x, Tensor? b, int dim, str act, float alpha, float gain, "
        "float? clamp, int order) -> Tensor");
  // Order 1 from the forward's output y (linear, relu, lrelu with gain > 0, alpha >= 0): the same
  // gradient as bias_act_grad(dy, x, b, ..., 1) without keeping x alive for the backward.
  m.def("bias_act_grad_from_output(Tensor dy, Tensor y, str act, float alpha, float gain, "
        "float? clamp) -> Tensor");

  // ---- StyleGAN2 weight modulation (modulate_{cpu,cuda}.cpp)
  // StyleGAN2 modulation: w[n] = weight · styles[n] (over input channels), times
  // d[n, o] = rsqrt(Σ w[n, o]² + eps) when demodulate (else d = 1). Returns (w [N, O, I, kh, kw], d [N, O]).
  m.def("modulate_weight(Tensor weight, Tensor styles, bool demodulate, float eps) -> (Tensor, Tensor)");

  // ---- upsample, FIR filter, downsample (upfirdn2d_{cpu,cuda}.cpp)
  // NVlabs StyleGAN2-ADA upfirdn2d: up = [x, y], down = [x, y], padding = [x0, x1, y0, y1];
  // f is [fh, fw] or 1-D (the separable f ⊗ f); flip_filter=False is true convolution.
  m.def("upfirdn2d(Tensor x, Tensor f, int[] up, int[] down, int[] padding, bool flip_filter, "
        "float gain) -> Tensor");
}
