// The torch dtype -> atu::cuda::DataType mapping of the CUDA registrations (*_cuda.cpp only).
#pragma once
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include "cuda/upfirdn2d.h"

namespace atu {

inline cuda::DataType cuda_data_type(at::ScalarType t, const char* op) {
  switch (t) {
    case at::kFloat: return cuda::DataType::kFloat32;
    case at::kDouble: return cuda::DataType::kFloat64;
    case at::kHalf: return cuda::DataType::kFloat16;
    case at::kBFloat16: return cuda::DataType::kBFloat16;
    default: TORCH_CHECK(false, op, ": unsupported dtype ", t);
  }
}

}  // namespace atu
