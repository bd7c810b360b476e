"""cmake/torch_probe.py: what the build reads off the installed torch."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

PROBE = Path(__file__).resolve().parents[2] / "cmake" / "torch_probe.py"
spec = importlib.util.spec_from_file_location("torch_probe", PROBE)
torch_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_probe)


@pytest.mark.parametrize("guard, standard", [("201703L", 17), ("202002L", 20)])
def test_the_cxx_standard_is_the_one_atens_guard_demands(tmp_path, guard, standard):
    (tmp_path / "ATen").mkdir()
    (tmp_path / "ATen" / "ATen.h").write_text(
        f"#pragma once\n#if !defined(_MSC_VER) && __cplusplus < {guard}\n#error C++ too old\n#endif\n"
    )
    assert torch_probe.cxx_standard(str(tmp_path)) == standard


def test_the_installed_torch_reports_its_standard_and_cuda():
    facts = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [sys.executable, str(PROBE)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    assert facts["version"] == torch.__version__
    assert facts["cuda"] == (torch.version.cuda or "")
    header = (Path(torch.__file__).parent / "include" / "ATen" / "ATen.h").read_text()
    assert ("202002L" in header) == (facts["cxx_standard"] == "20")
    assert facts["cxx11_abi"] == str(int(torch._C._GLIBCXX_USE_CXX11_ABI))


def test_torch_cuda_arch_list_becomes_cmake_architectures():
    assert torch_probe.cmake_architectures("8.0;9.0+PTX") == "80-real|90"
    assert torch_probe.cmake_architectures(" 8.6 9.0a ") == "86-real|90a-real"
    assert torch_probe.cmake_architectures("") == ""
    with pytest.raises(ValueError, match="'sm_90'"):
        torch_probe.cmake_architectures("sm_90")


# ---- CMake's decisions, from a configure run against the installed torch ------------------------

ROOT = PROBE.parents[1]


def _configure(tmp_path, *defines, env=None):
    run = subprocess.run(
        (
            ["cmake", "-S", str(ROOT), "-B", str(tmp_path / "build"), "-G", "Ninja"]
            + [f"-DPython_EXECUTABLE={sys.executable}", *defines]
        ),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    # CMake wraps long messages: compare with the line breaks and indents folded into single spaces
    return subprocess.CompletedProcess(
        run.args, run.returncode, " ".join(run.stdout.split()), " ".join(run.stderr.split())
    )


def _cmake_available():
    import shutil

    return shutil.which("cmake") and shutil.which("ninja")


needs_cmake = pytest.mark.skipif(not _cmake_available(), reason="cmake and ninja are needed to configure")


@needs_cmake
@pytest.mark.skipif(torch.version.cuda is not None, reason="a CPU torch is what is checked here")
def test_a_cpu_torch_builds_the_cpu_module_on_auto_and_is_an_error_on_on(tmp_path):
    auto = _configure(tmp_path, "-DATU_CUDA=AUTO")
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert f"torch {torch.__version__}" in auto.stdout and "CUDA kernels OFF" in auto.stdout
    assert "CPU-only build; the CPU-only module is built" in auto.stdout
    on = _configure(tmp_path / "on", "-DATU_CUDA=ON")
    assert on.returncode != 0
    assert "ATU_CUDA=ON, but torch" in on.stderr and "CPU-only build" in on.stderr
    assert "pip install torch==2.14.1" in on.stderr
    bad = _configure(tmp_path / "bad", "-DATU_CUDA=YES")
    assert bad.returncode != 0 and "ATU_CUDA must be AUTO, ON or OFF" in bad.stderr


@needs_cmake
@pytest.mark.skipif(torch.version.cuda is None, reason="needs a CUDA build of torch")
def test_cuda_architectures_come_from_torch_cuda_arch_list_else_the_default(tmp_path):
    listed = _configure(tmp_path / "list", "-DATU_CUDA=ON", env={"TORCH_CUDA_ARCH_LIST": "8.0;9.0+PTX"})
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "architectures 80-real;90 (TORCH_CUDA_ARCH_LIST=8.0;9.0+PTX)" in listed.stdout
    default = _configure(tmp_path / "default", "-DATU_CUDA=ON", env={"TORCH_CUDA_ARCH_LIST": "", "CUDAARCHS": ""})
    assert default.returncode == 0, default.stdout + default.stderr
    assert "architectures 80-real;90 (the default" in default.stdout
    assert f"C++{torch_probe.cxx_standard(str(Path(torch.__file__).parent / 'include'))}" in default.stdout
    wrong = _configure(tmp_path / "wrong", "-DATU_CUDA=ON", env={"TORCH_CUDA_ARCH_LIST": "sm_90"})
    assert wrong.returncode != 0 and "'sm_90'" in wrong.stderr


# ---- the built module: one file for every torch >= its target and every CPython >= 3.10 -----------


def _undefined_symbols(library: Path) -> list[str]:
    """The dynamic symbols `library` takes from others, demangled (binutils' nm)."""
    out = subprocess.run(
        ["nm", "-D", "--undefined-only", "--demangle", str(library)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split(None, 1)[1] for line in out.splitlines() if line.strip()]


def _needed_libraries(library: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def test_the_module_uses_only_the_stable_abis_of_torch_and_python():
    import atu_ext

    library = Path(atu_ext._C.__file__)
    assert library.name == "_C.abi3.so"
    symbols = _undefined_symbols(library)
    assert any(s.startswith("torch_library_impl") for s in symbols)  # the registrations went through the shim
    unstable = [s for s in symbols if any(ns in s for ns in ("c10::", "at::", "torch::", "pybind11::"))]
    assert unstable == [], f"atu_ext links torch's C++ API: {unstable[:5]}"
    # CPython: the limited API only (private _Py symbols other than the reference counting are outside it)
    python = [s for s in symbols if s.startswith(("Py", "_Py"))]
    assert python and all(not s.startswith("_Py") or s.startswith("_Py_Dealloc") for s in python), python
    needed = _needed_libraries(library)
    torch_libs = {n for n in needed if n.startswith(("libtorch", "libc10"))}
    assert torch_libs <= {"libtorch_cpu.so", "libtorch_cuda.so"}, needed
    assert not any(n.startswith("libpython") for n in needed), needed


def test_a_torch_older_than_the_target_is_refused_at_import_naming_both():
    code = (
        "import torch; torch.__version__ = '2.9.1+cpu'\n"
        "try:\n    import atu_ext\nexcept ImportError as e:\n    print(e)\nelse:\n    print('imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    import atu_ext

    assert "torch 2.9.1+cpu is older than torch " + atu_ext._C.target_torch in out.stdout, out.stdout + out.stderr
    assert "Install torch>=" + atu_ext._C.target_torch in out.stdout


def test_the_running_torch_is_at_least_the_target_and_both_are_recorded():
    import atu_ext

    info = atu_ext.build_info()
    assert info["torch"] == torch.__version__
    assert atu_ext._release(torch.__version__) >= atu_ext._release(info["target_torch"])
    assert atu_ext._release("2.14.1+cu130") == (2, 14) and atu_ext._release("2.10.0") == (2, 10)
