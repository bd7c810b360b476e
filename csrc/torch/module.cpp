// The Python module atu_ext._C. Loading it runs the static STABLE_TORCH_LIBRARY registrations; the
// ops themselves are reached through torch.ops.atu.*. The module only reports how it was built.
//
// Written against CPython's limited API (the build defines Py_LIMITED_API and names the file
// _C.abi3.so), and registering its ops through the LibTorch stable ABI: one compiled atu_ext
// imports under every CPython >= 3.10 and every torch >= the target version.
#include <Python.h>

#include "cpu/penalties.h"

namespace {

PyObject* cpu_isa(PyObject* /*module*/, PyObject* /*unused*/) { return PyUnicode_FromString(atu::cpu::isa()); }

PyMethodDef methods[] = {
    {"cpu_isa", cpu_isa, METH_NOARGS, "Instruction set of the CPU kernels in use: avx2 or baseline"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_C", "atu_ext compiled kernels (ops are registered under torch.ops.atu)", -1, methods,
    nullptr, nullptr, nullptr, nullptr,
};

#ifdef ATU_WITH_CUDA
constexpr bool kBuiltWithCuda = true;
constexpr const char* kCudaArchitectures = ATU_CUDA_ARCHITECTURES;  // CMake's form: "80-real 90"
#else
constexpr bool kBuiltWithCuda = false;
constexpr const char* kCudaArchitectures = "";
#endif

// Adds `value` (a new reference, or null after a failed call) to `module` as `name`.
bool add(PyObject* module, const char* name, PyObject* value) {
  if (value == nullptr) return false;
  const int rc = PyModule_AddObjectRef(module, name, value);
  Py_DECREF(value);
  return rc == 0;
}

}  // namespace

PyMODINIT_FUNC PyInit__C() {
  PyObject* module = PyModule_Create(&module_def);
  if (module == nullptr) return nullptr;
  const bool ok = add(module, "built_with_cuda", PyBool_FromLong(kBuiltWithCuda)) &&
                  add(module, "cuda_architectures", PyUnicode_FromString(kCudaArchitectures)) &&
                  add(module, "built_against_torch", PyUnicode_FromString(ATU_BUILT_AGAINST_TORCH)) &&
                  add(module, "target_torch", PyUnicode_FromString(ATU_TARGET_TORCH)) &&
                  add(module, "chunk_elems", PyLong_FromLongLong(atu::kChunkElems));
  if (!ok) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
