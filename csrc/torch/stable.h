// What atu's torch layer (csrc/torch) sees of torch: the LibTorch stable ABI only — tensors as
// torch::stable::Tensor, registrations with STABLE_TORCH_LIBRARY, ATen ops through the dispatcher's
// C entry point. The build defines TORCH_TARGET_VERSION (CMakeLists.txt), which makes every
// unstable torch header an error, so one compiled atu_ext loads under that torch and every later one.
//
// Also here: how the layer reports a bad argument. The dispatcher hands a kernel's C++ exception to
// Python, where std::invalid_argument becomes a ValueError and std::runtime_error a RuntimeError.
#pragma once
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <array>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "penalties_params.h"  // DType

namespace atu {

using Tensor = torch::stable::Tensor;
using torch::headeronly::ScalarType;
using torch::stable::Device;

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// A caller's mistake: a ValueError in Python, with the parts of the message concatenated.
template <class... Parts>
[[noreturn]] void fail_value(const Parts&... parts) {
  throw std::invalid_argument(detail::concat(parts...));
}

// Anything else that stops an op (a kernel's launch error, a broken invariant): a RuntimeError.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw std::runtime_error(detail::concat(parts...));
}

// "[2, 3]": a shape as Python prints it, for messages.
std::string shape_of(const Tensor& t);
// "cpu", "cuda:0": a device as torch names it, for messages.
std::string name_of(const Device& d);
// "float32": a dtype as Python names it, for messages.
std::string name_of(ScalarType t);

// The kernels' dtype of a tensor dtype; other dtypes are refused, naming `op`.
DType to_dtype(ScalarType t, const char* op);

// float16 or bfloat16: the dtypes a CPU kernel runs in float32 and rounds back.
inline bool is_reduced_float(ScalarType t) { return t == ScalarType::Half || t == ScalarType::BFloat16; }

// t converted to dtype `st` on its device, keeping its memory format.
inline Tensor cast(const Tensor& t, ScalarType st) { return torch::stable::to(t, st); }

// Calls the ATen operator name.overload through the dispatcher's stable C entry point (what
// torch/csrc/stable/ops.h does for the ops it wraps) and returns its single tensor result.
template <class... Args>
Tensor call_aten(const char* name, const char* overload, const Args&... args) {
  std::array<StableIValue, sizeof...(Args)> stack{torch::stable::detail::from(args)...};
  STABLE_TORCH_ERROR_CODE_CHECK(torch_call_dispatcher(name, overload, stack.data(), TORCH_ABI_VERSION));
  return torch::stable::detail::to<Tensor>(stack[0]);
}

}  // namespace atu
