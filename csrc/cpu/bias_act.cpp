// CPU kernel of the fused bias + activation: one pass over memory, parallel over flat ranges of
// elements, with inner loops the compiler vectorises for the piecewise-linear activations.
//
// The tensors are dense in one shared layout (see bias_act_params.h), so the channel of flat
// element i is (i / channel_stride) % channels. Two loop shapes follow from that:
//   * long runs of one channel (contiguous NCHW: channel_stride = H·W): a scalar bias per run;
//   * short runs (channels_last: channel_stride = 1): the bias pattern of one period of
//     channels · channel_stride elements is expanded once, and each period adds it element-wise.
#include "cpu/bias_act.h"

#include "cpu/parallel.h"
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace atu::cpu {
namespace {

using bias_act::Act;
using bias_act::Args;

// Elements per parallel task: large enough to amortise the task, small enough to split the
// StyleGAN2 4×4 layers (16·512·16 = 131k elements) between two cores.
constexpr int64_t kGrain = int64_t{1} << 15;
// Runs of one channel shorter than this use the expanded-period loop.
constexpr int64_t kMinScalarRun = 16;

// Arithmetic type: float for float32 and the 16-bit types (widened on load), double for float64.
template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

template <typename T, Act A, int K, bool kClamp>
struct Kernel {
  using C = typename Compute<T>::type;
  static constexpr bool kHasDy = K != 0;

  // out[j] = element(x[j] + bias) for j < n, with one bias for the whole run.
  static void run_scalar_bias(const T* __restrict x, const T* __restrict dy, T* __restrict out,
                              int64_t n, C bias, C alpha, C gain, C clamp) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const C d = kHasDy ? static_cast<C>(dy[j]) : C(0);
      out[j] = static_cast<T>(
          bias_act::element<A, K, kClamp, C>(static_cast<C>(x[j]) + bias, d, alpha, gain, clamp));
    }
  }

  // out[j] = element(x[j] + bias[j]) for j < n.
  static void run_vector_bias(const T* __restrict x, const T* __restrict dy, T* __restrict out,
                              int64_t n, const C* __restrict bias, C alpha, C gain, C clamp) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const C d = kHasDy ? static_cast<C>(dy[j]) : C(0);
      out[j] = static_cast<T>(
          bias_act::element<A, K, kClamp, C>(static_cast<C>(x[j]) + bias[j], d, alpha, gain, clamp));
    }
  }

  static void run(const Args& a) {
    const T* x = static_cast<const T*>(a.x);
    const T* dy = static_cast<const T*>(a.dy);
    T* out = static_cast<T*>(a.out);
    const T* bias = static_cast<const T*>(a.bias);
    const C alpha = static_cast<C>(a.alpha), gain = static_cast<C>(a.gain);
    const C clamp = static_cast<C>(a.clamp);
    const auto dy_at = [&](int64_t i) { return kHasDy ? dy + i : nullptr; };

    if (bias == nullptr || a.channels == 1) {
      const C b = bias == nullptr ? C(0) : static_cast<C>(bias[0]);
      parallel_for(0, a.numel, kGrain, [&](int64_t lo, int64_t hi) {
        run_scalar_bias(x + lo, dy_at(lo), out + lo, hi - lo, b, alpha, gain, clamp);
      });
      return;
    }

    const int64_t run_len = a.channel_stride;
    if (run_len >= kMinScalarRun) {
      parallel_for(0, a.numel, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi;) {
          const int64_t run = i / run_len;
          const int64_t end = std::min(hi, (run + 1) * run_len);
          const C b = static_cast<C>(bias[run % a.channels]);
          run_scalar_bias(x + i, dy_at(i), out + i, end - i, b, alpha, gain, clamp);
          i = end;
        }
      });
      return;
    }

    // One period of the bias pattern, widened to the compute type once.
    const int64_t period = a.channels * run_len;
    std::vector<C> pattern(period);
    for (int64_t j = 0; j < period; ++j) pattern[j] = static_cast<C>(bias[j / run_len]);
    parallel_for(0, a.numel, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi;) {
        const int64_t phase = i % period;
        const int64_t end = std::min(hi, i + (period - phase));
        run_vector_bias(x + i, dy_at(i), out + i, end - i, pattern.data() + phase, alpha, gain, clamp);
        i = end;
      }
    });
  }
};

// ---- dispatch: dtype × activation × order × clamp -----------------------------------------------

template <typename T, Act A, int K>
void with_clamp(const Args& a) {
  if (a.clamp_on) {
    Kernel<T, A, K, true>::run(a);
  } else {
    Kernel<T, A, K, false>::run(a);
  }
}

template <typename T, Act A>
void with_order(const Args& a) {
  if constexpr (bias_act::is_piecewise_linear(A)) {
    if (a.order == bias_act::kOrderFromOutput) return with_clamp<T, A, bias_act::kOrderFromOutput>(a);
  }
  switch (a.order) {
    case 0: return with_clamp<T, A, 0>(a);
    case 1: return with_clamp<T, A, 1>(a);
    case 2: return with_clamp<T, A, 2>(a);
    case 3: return with_clamp<T, A, 3>(a);
  }
}

template <typename T>
void with_act(const Args& a) {
  switch (a.act) {
    case Act::kLinear: return with_order<T, Act::kLinear>(a);
    case Act::kRelu: return with_order<T, Act::kRelu>(a);
    case Act::kLrelu: return with_order<T, Act::kLrelu>(a);
    case Act::kTanh: return with_order<T, Act::kTanh>(a);
    case Act::kSigmoid: return with_order<T, Act::kSigmoid>(a);
    case Act::kElu: return with_order<T, Act::kElu>(a);
    case Act::kSelu: return with_order<T, Act::kSelu>(a);
    case Act::kSoftplus: return with_order<T, Act::kSoftplus>(a);
    case Act::kSwish: return with_order<T, Act::kSwish>(a);
  }
}

}  // namespace

void bias_act(const Args& a) {
  if (a.numel == 0) return;
  switch (a.dtype) {
    case DType::kFloat32: return with_act<float>(a);
    case DType::kFloat64: return with_act<double>(a);
    case DType::kFloat16: return with_act<torch::headeronly::Half>(a);
    case DType::kBFloat16: return with_act<torch::headeronly::BFloat16>(a);
  }
}

}  // namespace atu::cpu
