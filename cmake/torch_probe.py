"""Prints what CMakeLists.txt needs to know about the torch it builds against, one `key=value` a line
(a list value joined by "|": CMake's own separator ";" would split the line).

The build links libtorch directly from these facts instead of through torch's CMake package: that
package re-detects CUDA with its own legacy FindCUDA (which misses toolkits whose nvcc is a wrapper
or whose libraries are in lib/), insists on an nvrtc the toolkit may not have, and overrides the
CUDA architectures asked for. What torch itself requires (the C++ standard, the libstdc++ ABI) is
read from the installed torch, so every torch we admit builds with the flags it was built for.
"""

from __future__ import annotations

import glob
import os
import re
import sys


def cxx_standard(include_dir: str) -> int:
    """The C++ standard ATen's own guard demands (`__cplusplus < 201703L` -> 17, `202002L` -> 20)."""
    with open(os.path.join(include_dir, "ATen", "ATen.h"), encoding="utf-8") as fh:
        guard = re.search(r"__cplusplus\s*<\s*(\d{6})L", fh.read())
    if guard is None:
        return 17
    year = int(guard.group(1)[:4])
    return {2017: 17, 2020: 20, 2023: 23}.get(year, 17 if year < 2020 else 20)


def nvidia_wheel_lib_dirs(site_packages: str) -> list[str]:
    """lib/ folders of the nvidia-* wheels torch depends on (CUDA 13: nvidia/cu13/lib; 12: nvidia/*/lib)."""
    return sorted(d for d in glob.glob(os.path.join(site_packages, "nvidia", "*", "lib")) if os.path.isdir(d))


def cmake_architectures(arch_list: str) -> str:
    """TORCH_CUDA_ARCH_LIST ("8.0;9.0+PTX", "8.6 9.0a") in CMAKE_CUDA_ARCHITECTURES form ("80-real|90").

    An entry with +PTX also embeds PTX (CMake's plain "90"), one without is machine code only.
    Raises ValueError naming the entry it cannot read.
    """
    archs = []
    for entry in re.split(r"[;\s]+", arch_list.strip()):
        if not entry:
            continue
        match = re.fullmatch(r"(\d+)\.(\d)([af]?)(\+PTX)?", entry)
        if match is None:
            raise ValueError(f"TORCH_CUDA_ARCH_LIST entry {entry!r} is not of the form 9.0, 9.0a or 9.0+PTX")
        major, minor, suffix, ptx = match.groups()
        archs.append(f"{major}{minor}{suffix}" + ("" if ptx else "-real"))
    return "|".join(archs)


def main() -> int:
    try:
        import torch
    except ImportError as exc:
        print(f"error=torch is not importable by {sys.executable}: {exc}")
        return 1
    root = os.path.dirname(torch.__file__)
    include = os.path.join(root, "include")
    facts = {
        "version": torch.__version__,
        "root": root,
        "include_dirs": "|".join([include, os.path.join(include, "torch", "csrc", "api", "include")]),
        "lib_dir": os.path.join(root, "lib"),
        "cxx11_abi": int(torch._C._GLIBCXX_USE_CXX11_ABI),
        "cxx_standard": cxx_standard(include),
        "cuda": torch.version.cuda or "",
        "nvidia_lib_dirs": "|".join(nvidia_wheel_lib_dirs(os.path.dirname(root))),
    }
    try:
        facts["torch_cuda_arch_list"] = cmake_architectures(os.environ.get("TORCH_CUDA_ARCH_LIST", ""))
    except ValueError as exc:  # only an error if CUDA kernels are built: AtuCuda.cmake decides
        facts["torch_cuda_arch_list_error"] = str(exc)
    for key, value in facts.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
