# atu_probe_torch(PYTHON): reads the installed torch's facts (cmake/torch_probe.py) and defines
#   ATU_TORCH_VERSION, ATU_TORCH_CXX_STANDARD, ATU_TORCH_CUDA ("" for a CPU torch), ATU_TORCH_LIB_DIR,
#   ATU_TORCH_NVIDIA_LIB_DIRS, ATU_TORCH_TORCH_CUDA_ARCH_LIST (TORCH_CUDA_ARCH_LIST in CMake's form;
#   ATU_TORCH_TORCH_CUDA_ARCH_LIST_ERROR says why when it cannot be read)
# and the interface targets atu::torch (libtorch_cpu, whose C shim is the stable ABI) and
# atu::torch_cuda (+ libtorch_cuda, which exports the shim's CUDA functions).
function(atu_probe_torch python)
  execute_process(
    COMMAND "${python}" "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/torch_probe.py"
    OUTPUT_VARIABLE probe RESULT_VARIABLE rc ERROR_VARIABLE probe_err)
  string(REGEX MATCH "error=([^\n]*)" has_error "${probe}")
  if(has_error OR NOT rc EQUAL 0)
    message(FATAL_ERROR
      "atu_ext: cannot read the installed torch (${CMAKE_MATCH_1}${probe_err}).\n"
      "Install torch into ${python}'s environment first (CPU: pip install torch==2.13.0), then build "
      "without isolation so the build sees it:\n  pip install --no-build-isolation .")
  endif()
  string(REPLACE "\n" ";" lines "${probe}")
  foreach(line IN LISTS lines)
    if(line MATCHES "^([a-z0-9_]+)=(.*)$")
      string(REPLACE "|" ";" value "${CMAKE_MATCH_2}")   # the probe joins a list with "|"
      set(fact_${CMAKE_MATCH_1} "${value}")
    endif()
  endforeach()
  foreach(key version cxx_standard cuda lib_dir nvidia_lib_dirs torch_cuda_arch_list torch_cuda_arch_list_error)
    string(TOUPPER "${key}" upper)
    set(ATU_TORCH_${upper} "${fact_${key}}" PARENT_SCOPE)
  endforeach()

  set(libs)
  foreach(name torch_cpu)
    unset(ATU_LIB_${name} CACHE)   # a build folder reused with another torch must not keep the old one
    find_library(ATU_LIB_${name} NAMES ${name} PATHS "${fact_lib_dir}" NO_DEFAULT_PATH REQUIRED)
    list(APPEND libs "${ATU_LIB_${name}}")
  endforeach()
  add_library(atu_torch INTERFACE)
  target_include_directories(atu_torch SYSTEM INTERFACE ${fact_include_dirs})
  target_compile_definitions(atu_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${fact_cxx11_abi})
  target_link_libraries(atu_torch INTERFACE ${libs})
  add_library(atu::torch ALIAS atu_torch)
endfunction()

# atu_torch_cuda_target(): atu::torch_cuda, libtorch_cpu plus libtorch_cuda (the CUDA registrations
# ask it for the current stream); only a CUDA build of torch has it.
function(atu_torch_cuda_target)
  unset(ATU_LIB_torch_cuda CACHE)
  find_library(ATU_LIB_torch_cuda NAMES torch_cuda PATHS "${ATU_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
  if(NOT ATU_LIB_torch_cuda)
    message(FATAL_ERROR "atu_ext: torch ${ATU_TORCH_VERSION} has no libtorch_cuda in ${ATU_TORCH_LIB_DIR}: "
                        "it is not a CUDA build of torch")
  endif()
  add_library(atu_torch_cuda INTERFACE)
  target_link_libraries(atu_torch_cuda INTERFACE atu::torch "${ATU_LIB_torch_cuda}")
  add_library(atu::torch_cuda ALIAS atu_torch_cuda)
endfunction()
