#include "torch/stable.h"

namespace atu {

std::string shape_of(const Tensor& t) {
  std::ostringstream out;
  out << '[';
  for (int64_t d = 0; d < t.dim(); ++d) out << (d > 0 ? ", " : "") << t.size(d);
  out << ']';
  return out.str();
}

std::string name_of(const Device& d) {
  using torch::headeronly::DeviceType;
  std::string type = d.type() == DeviceType::CPU ? "cpu" : d.type() == DeviceType::CUDA ? "cuda" : "other";
  return d.index() >= 0 ? type + ":" + std::to_string(d.index()) : type;
}

std::string name_of(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "float32";
    case ScalarType::Double: return "float64";
    case ScalarType::Half: return "float16";
    case ScalarType::BFloat16: return "bfloat16";
    default: return torch::headeronly::toString(t);
  }
}

DType to_dtype(ScalarType t, const char* op) {
  switch (t) {
    case ScalarType::Float: return DType::kFloat32;
    case ScalarType::Double: return DType::kFloat64;
    case ScalarType::Half: return DType::kFloat16;
    case ScalarType::BFloat16: return DType::kBFloat16;
    default: fail_value(op, ": unsupported dtype ", name_of(t), " (float32, float64, float16, bfloat16)");
  }
}

}  // namespace atu
