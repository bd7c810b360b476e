# Whether to build the CUDA kernels, with which nvcc, for which GPUs.
#
# atu_decide_cuda() sets ATU_WITH_CUDA and ATU_CUDA_REASON (said in the build log); when ON also
# CMAKE_CUDA_COMPILER (the real nvcc, never a wrapper script), ATU_CUDA_TOOLKIT_ROOT,
# CMAKE_CUDA_ARCHITECTURES and ATU_CUDA_ARCH_REASON. ATU_CUDA=ON fails on anything missing with a
# message naming it and how to point at it; AUTO builds the CPU-only module and says why.

# The default GPUs: A100 (sm_80) and H100/H200 (sm_90) as machine code, plus sm_90's PTX, which the
# driver compiles just in time on anything newer.
set(ATU_DEFAULT_CUDA_ARCHITECTURES "80-real;90")

# The toolkit root of an nvcc: its own directory's parent, or, for a wrapper script (nvcc on PATH
# that execs the real one), the directory nvcc reports as _HERE_ in a dry run.
function(_atu_toolkit_of nvcc out)
  execute_process(COMMAND "${nvcc}" --dryrun -c -x cu /dev/null -o /dev/null
                  OUTPUT_VARIABLE dry ERROR_VARIABLE dry RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND dry MATCHES "#\\$ _HERE_=([^\n]*)")
    get_filename_component(root "${CMAKE_MATCH_1}/.." ABSOLUTE)
  else()
    get_filename_component(real "${nvcc}" REALPATH)
    get_filename_component(root "${real}/../.." ABSOLUTE)
  endif()
  set(${out} "${root}" PARENT_SCOPE)
endfunction()

# The nvcc to use and where it was found: CUDACXX / CMAKE_CUDA_COMPILER, CUDA_HOME, CUDA_PATH, nvcc
# on PATH, /usr/local/cuda. Sets ${out} (empty when none) and ${searched} (for the error message).
function(_atu_find_nvcc out searched)
  set(candidates)
  if(CMAKE_CUDA_COMPILER)
    list(APPEND candidates "${CMAKE_CUDA_COMPILER}|CMAKE_CUDA_COMPILER")
  endif()
  foreach(var CUDACXX CUDA_HOME CUDA_PATH)
    if(DEFINED ENV{${var}} AND NOT "$ENV{${var}}" STREQUAL "")
      if(var STREQUAL "CUDACXX")
        list(APPEND candidates "$ENV{${var}}|CUDACXX")
      else()
        list(APPEND candidates "$ENV{${var}}/bin/nvcc|${var}")
      endif()
    endif()
  endforeach()
  find_program(_atu_path_nvcc nvcc NO_CACHE)
  if(_atu_path_nvcc)
    list(APPEND candidates "${_atu_path_nvcc}|PATH")
  endif()
  list(APPEND candidates "/usr/local/cuda/bin/nvcc|/usr/local/cuda")
  set(tried)
  foreach(entry IN LISTS candidates)
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 path)
    list(GET parts 1 origin)
    list(APPEND tried "${path} (${origin})")
    if(EXISTS "${path}" AND NOT IS_DIRECTORY "${path}")
      _atu_toolkit_of("${path}" root)
      if(EXISTS "${root}/bin/nvcc")
        set(${out} "${root}/bin/nvcc" PARENT_SCOPE)
        set(${searched} "${path} (${origin})" PARENT_SCOPE)
        return()
      endif()
    endif()
  endforeach()
  string(REPLACE ";" ", " tried "${tried}")
  set(${out} "" PARENT_SCOPE)
  set(${searched} "${tried}" PARENT_SCOPE)
endfunction()

# Turns the build off (AUTO) or stops it (ON) with the reason.
macro(_atu_no_cuda reason how)
  if(ATU_CUDA STREQUAL "ON")
    message(FATAL_ERROR "atu_ext: ATU_CUDA=ON, but ${reason}.\n${how}")
  endif()
  set(ATU_WITH_CUDA OFF PARENT_SCOPE)
  set(ATU_CUDA_REASON "${reason}; the CPU-only module is built (ATU_CUDA=ON makes this an error)" PARENT_SCOPE)
  return()
endmacro()

function(atu_decide_cuda)
  if(NOT ATU_CUDA MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "atu_ext: ATU_CUDA must be AUTO, ON or OFF, got '${ATU_CUDA}'")
  endif()
  if(ATU_CUDA STREQUAL "OFF")
    set(ATU_WITH_CUDA OFF PARENT_SCOPE)
    set(ATU_CUDA_REASON "ATU_CUDA=OFF" PARENT_SCOPE)
    return()
  endif()
  if(ATU_TORCH_CUDA STREQUAL "")
    _atu_no_cuda("torch ${ATU_TORCH_VERSION} is a CPU-only build"
                 "Install a CUDA build of torch first (for CUDA 13.0: pip install torch==2.14.1), then rebuild atu.")
  endif()
  _atu_find_nvcc(nvcc searched)
  if(NOT nvcc)
    _atu_no_cuda("no nvcc was found (looked at: ${searched})"
                 "Point at the CUDA ${ATU_TORCH_CUDA} toolkit: CUDA_HOME=/path/to/cuda (holding bin/nvcc) or CUDACXX=/path/to/nvcc.")
  endif()
  execute_process(COMMAND "${nvcc}" --version OUTPUT_VARIABLE version_text RESULT_VARIABLE rc)
  string(REGEX MATCH "release ([0-9]+)\\.([0-9]+)" _ "${version_text}")
  set(nvcc_version "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
  set(nvcc_major "${CMAKE_MATCH_1}")
  string(REGEX MATCH "^[0-9]+" torch_major "${ATU_TORCH_CUDA}")
  if(NOT rc EQUAL 0 OR NOT nvcc_major STREQUAL torch_major)
    # Kernels built by another major CUDA release would link another libcudart than torch loads.
    _atu_no_cuda("nvcc ${nvcc} (found through ${searched}) is CUDA '${nvcc_version}', torch ${ATU_TORCH_VERSION} uses CUDA ${ATU_TORCH_CUDA}"
                 "Point at a CUDA ${torch_major}.x toolkit with CUDA_HOME or CUDACXX, or install the torch built for CUDA ${nvcc_version}.")
  endif()
  get_filename_component(root "${nvcc}/../.." ABSOLUTE)

  if(DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(archs "${CMAKE_CUDA_ARCHITECTURES}")
    set(arch_reason "CMAKE_CUDA_ARCHITECTURES")
  elseif(DEFINED ENV{CUDAARCHS} AND NOT "$ENV{CUDAARCHS}" STREQUAL "")
    set(archs "$ENV{CUDAARCHS}")
    set(arch_reason "the CUDAARCHS environment variable")
  elseif(NOT ATU_TORCH_TORCH_CUDA_ARCH_LIST_ERROR STREQUAL "")
    message(FATAL_ERROR "atu_ext: ${ATU_TORCH_TORCH_CUDA_ARCH_LIST_ERROR} (e.g. TORCH_CUDA_ARCH_LIST=\"8.0;9.0+PTX\")")
  elseif(NOT ATU_TORCH_TORCH_CUDA_ARCH_LIST STREQUAL "")
    set(archs "${ATU_TORCH_TORCH_CUDA_ARCH_LIST}")
    set(arch_reason "TORCH_CUDA_ARCH_LIST=$ENV{TORCH_CUDA_ARCH_LIST}")
  else()
    set(archs "${ATU_DEFAULT_CUDA_ARCHITECTURES}")
    set(arch_reason "the default: sm_80 and sm_90 machine code, sm_90 PTX for newer GPUs; "
                    "set CMAKE_CUDA_ARCHITECTURES, CUDAARCHS or TORCH_CUDA_ARCH_LIST to choose")
  endif()

  set(CMAKE_CUDA_COMPILER "${nvcc}" CACHE FILEPATH "nvcc" FORCE)
  set(CMAKE_CUDA_ARCHITECTURES "${archs}" PARENT_SCOPE)
  set(ATU_CUDA_ARCH_REASON "${arch_reason}" PARENT_SCOPE)
  set(ATU_CUDA_TOOLKIT_ROOT "${root}" PARENT_SCOPE)
  set(ATU_WITH_CUDA ON PARENT_SCOPE)
  set(ATU_CUDA_REASON "nvcc ${nvcc} (CUDA ${nvcc_version}, found through ${searched})" PARENT_SCOPE)
endfunction()
