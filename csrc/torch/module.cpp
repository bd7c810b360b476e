// The Python module atu_ext._C. Importing it runs the static TORCH_LIBRARY registrations; the
// ops themselves are reached through torch.ops.atu.*. The module only reports how it was built.
#include <pybind11/pybind11.h>

#include "cpu/penalties.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "atu_ext compiled kernels (ops are registered under torch.ops.atu)";
#ifdef ATU_WITH_CUDA
  m.attr("built_with_cuda") = true;
  m.attr("cuda_architectures") = ATU_CUDA_ARCHITECTURES;  // CMake's form: "80-real 90"
#else
  m.attr("built_with_cuda") = false;
  m.attr("cuda_architectures") = "";
#endif
  m.attr("built_against_torch") = ATU_BUILT_AGAINST_TORCH;
  m.attr("chunk_elems") = atu::kChunkElems;
  m.def("cpu_isa", &atu::cpu::isa, "Instruction set of the CPU kernels in use: avx2 or baseline");
}
