// Fused bias + activation: what the CPU (csrc/cpu) and CUDA (csrc/cuda) kernels compute.
//
// Torch-free and shared by both: the activations and their derivatives are written once here, as
// host/device inline functions, so the two kernels cannot drift apart.
//
// For z = x + b[channel]:
//   order 0 (forward)   y   = clamp(gain · f(z), −clamp, +clamp)          (clamp only when clamp_on)
//   order k ≥ 1         out = dy · gain · f⁽ᵏ⁾(z) · [−clamp ≤ gain·f(z) ≤ clamp]
// Order 1 is the gradient of the forward w.r.t. x; orders 2 and 3 are what the gradient's own
// gradients need (see python/atu_ext/bias_act.py). The clamp mask is the same as torch.clamp's gradient
// (the boundary passes), and it is a piecewise constant, so it has no derivative of its own.
#pragma once
#include <cmath>
#include <cstdint>

#include "penalties_params.h"  // atu::DType

#if defined(__CUDACC__)
#define ATU_HOST_DEVICE __host__ __device__ __forceinline__
#define ATU_HOST_DEVICE_CONSTEXPR __host__ __device__ constexpr
#elif defined(__GNUC__)
// Forced, so that the per-element math always lands inside the CPU loops however many variants
// the translation unit instantiates: a call per element would keep them from vectorising.
#define ATU_HOST_DEVICE inline __attribute__((always_inline))
#define ATU_HOST_DEVICE_CONSTEXPR constexpr
#else
#define ATU_HOST_DEVICE inline
#define ATU_HOST_DEVICE_CONSTEXPR constexpr
#endif

namespace atu::bias_act {

// The order of the names in kActivationNames; python/atu_ext/bias_act.py lists the same names.
enum class Act : int { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };
constexpr int kNumActivations = 9;
constexpr const char* kActivationNames[kNumActivations] = {
    "linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};

// Highest derivative the kernels compute. linear, relu and lrelu have no non-zero derivative past
// the first; for the others, third order is what a gradient of a second-order gradient needs.
constexpr int kMaxOrder = 3;

// Pseudo-order of a first derivative computed from the forward's output y rather than from x + b.
// Valid for the piecewise-linear activations with gain > 0 (and alpha >= 0 for lrelu), where
// y > 0 exactly when x + b > 0: the backward then needs to keep y alive (the next layer keeps it
// anyway) instead of x, which halves the activation memory of training. The kernels get y as `x`
// and no bias. The clamp mask becomes −clamp < y < clamp: a clamped y lies on the boundary, so
// only an unclamped value exactly at ±clamp is treated differently from torch.clamp's gradient.
constexpr int kOrderFromOutput = -1;

ATU_HOST_DEVICE_CONSTEXPR bool is_piecewise_linear(Act a) {
  return a == Act::kLinear || a == Act::kRelu || a == Act::kLrelu;
}

// One call of a kernel. The tensors are dense (no gaps, no overlap) and share one memory layout:
// flat element i of x, dy and out is the same logical element, and its channel is
// (i / channel_stride) % channels. Without a bias, channels is 1.
struct Args {
  DType dtype = DType::kFloat32;  // of x, bias, dy and out alike
  Act act = Act::kLinear;
  int order = 0;                  // 0: forward; k ≥ 1: dy times the k-th derivative;
                                  // kOrderFromOutput: dy times the first derivative, x holds y
  const void* x = nullptr;
  const void* bias = nullptr;     // [channels] or nullptr
  const void* dy = nullptr;       // like x, for order ≥ 1; nullptr for order 0
  void* out = nullptr;            // like x
  int64_t numel = 0;
  int64_t channels = 1;
  int64_t channel_stride = 1;
  double alpha = 0.0;             // lrelu's negative slope; the other activations ignore it
  double gain = 1.0;
  double clamp = 0.0;             // used when clamp_on; ≥ 0
  bool clamp_on = false;
};

// SELU's fixed constants (Klambauer et al. 2017), the ones torch.nn.functional.selu uses.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
// softplus is torch's F.softplus(beta=1, threshold=20): the identity above the threshold.
constexpr double kSoftplusThreshold = 20.0;

template <typename C>
ATU_HOST_DEVICE C sigmoid(C z) {
  return C(1) / (C(1) + std::exp(-z));
}

// f⁽ᴷ⁾(z) for activation A, K = 0 .. kMaxOrder. Written with s = sigmoid(z), g = s(1 − s) = σ'
// and t = tanh(z), 1 − t² = tanh', so each order reuses the one transcendental call.
template <Act A, int K, typename C>
ATU_HOST_DEVICE C derivative(C z, C alpha) {
  static_assert(K >= 0 && K <= kMaxOrder, "derivative order out of range");
  const C zero(0), one(1), two(2);
  if constexpr (A == Act::kLinear) {
    return K == 0 ? z : (K == 1 ? one : zero);
  } else if constexpr (A == Act::kRelu) {
    if constexpr (K == 0) return z > zero ? z : zero;
    if constexpr (K == 1) return z > zero ? one : zero;
    return zero;
  } else if constexpr (A == Act::kLrelu) {
    // Both sides computed, then selected: GCC (with its default -ftrapping-math) will not
    // vectorise a multiply that only runs on one side of a branch.
    const C scaled = z * alpha;
    if constexpr (K == 0) return z > zero ? z : scaled;
    if constexpr (K == 1) return z > zero ? one : alpha;
    return zero;
  } else if constexpr (A == Act::kTanh) {
    const C t = std::tanh(z);
    const C dt = one - t * t;
    if constexpr (K == 0) return t;
    if constexpr (K == 1) return dt;
    if constexpr (K == 2) return -two * t * dt;
    return dt * (C(6) * t * t - two);
  } else if constexpr (A == Act::kSigmoid) {
    const C s = sigmoid(z);
    const C g = s * (one - s);
    if constexpr (K == 0) return s;
    if constexpr (K == 1) return g;
    if constexpr (K == 2) return g * (one - two * s);
    return g * (one - C(6) * s + C(6) * s * s);
  } else if constexpr (A == Act::kElu) {
    // elu with its alpha fixed at 1 (as in StyleGAN2-ADA); every derivative below 0 is exp(z).
    if constexpr (K == 0) return z > zero ? z : std::expm1(z);
    if constexpr (K == 1) return z > zero ? one : std::exp(z);
    return z > zero ? zero : std::exp(z);
  } else if constexpr (A == Act::kSelu) {
    const C scale(kSeluScale), neg(kSeluScale * kSeluAlpha);
    if constexpr (K == 0) return z > zero ? scale * z : neg * std::expm1(z);
    if constexpr (K == 1) return z > zero ? scale : neg * std::exp(z);
    return z > zero ? zero : neg * std::exp(z);
  } else if constexpr (A == Act::kSoftplus) {
    const bool identity = z > C(kSoftplusThreshold);
    if constexpr (K == 0) return identity ? z : std::log1p(std::exp(z));
    const C s = sigmoid(z);
    const C g = s * (one - s);
    if constexpr (K == 1) return identity ? one : s;
    if constexpr (K == 2) return identity ? zero : g;
    return identity ? zero : g * (one - two * s);
  } else {  // kSwish: z · σ(z)
    const C s = sigmoid(z);
    const C g = s * (one - s);
    const C u = one - two * s;
    if constexpr (K == 0) return z * s;
    if constexpr (K == 1) return s * (one + z * (one - s));
    if constexpr (K == 2) return g * (two + z * u);
    return g * (u * (C(3) + z * u) - two * z * g);
  }
}

// The value one element of the output gets (see the top of this file). `dy` is ignored for K = 0.
// For K = kOrderFromOutput, `z` is the forward's output y.
template <Act A, int K, bool kClamp, typename C>
ATU_HOST_DEVICE C element(C z, C dy, C alpha, C gain, C clamp) {
  if constexpr (K == kOrderFromOutput) {
    static_assert(is_piecewise_linear(A), "only piecewise-linear activations can use the output");
    const C y = z, zero(0), one(1);
    const C negative_slope = A == Act::kLrelu ? alpha : (A == Act::kRelu ? zero : one);
    const C d = dy * (y > zero ? one : negative_slope) * gain;
    if constexpr (kClamp) {
      const bool inside = (y > -clamp) & (y < clamp);
      return inside ? d : zero;
    }
    return d;
  } else if constexpr (K == 0) {
    C y = derivative<A, 0>(z, alpha) * gain;
    if constexpr (kClamp) {
      // Written as selects that keep a NaN (as torch.clamp does).
      const bool below = y < -clamp, above = y > clamp;
      y = below ? -clamp : y;
      y = above ? clamp : y;
    }
    return y;
  } else {
    const C d = dy * derivative<A, K>(z, alpha) * gain;
    if constexpr (kClamp) {
      const C y = derivative<A, 0>(z, alpha) * gain;
      // `&`, not `&&`: both comparisons always run, so the loop stays branch-free.
      const bool inside = (y >= -clamp) & (y <= clamp);
      return inside ? d : C(0);
    }
    return d;
  }
}

}  // namespace atu::bias_act
