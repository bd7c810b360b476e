"""cmake/torch_probe.py: what the build reads off the installed torch."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

PROBE = Path(__file__).resolve().parents[1] / "cmake" / "torch_probe.py"
spec = importlib.util.spec_from_file_location("torch_probe", PROBE)
torch_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_probe)


@pytest.mark.parametrize("guard, standard", [("201703L", 17), ("202002L", 20)])
def test_the_cxx_standard_is_the_one_atens_guard_demands(tmp_path, guard, standard):
    (tmp_path / "ATen").mkdir()
    (tmp_path / "ATen" / "ATen.h").write_text(
        f"#pragma once\n#if !defined(_MSC_VER) && __cplusplus < {guard}\n#error C++ too old\n#endif\n")
    assert torch_probe.cxx_standard(str(tmp_path)) == standard


def test_the_installed_torch_reports_its_standard_and_cuda():
    facts = dict(line.split("=", 1) for line in subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, check=True).stdout.splitlines())
    assert facts["version"] == torch.__version__
    assert facts["cuda"] == (torch.version.cuda or "")
    header = (Path(torch.__file__).parent / "include" / "ATen" / "ATen.h").read_text()
    assert ("202002L" in header) == (facts["cxx_standard"] == "20")
    assert facts["cxx11_abi"] == str(int(torch._C._GLIBCXX_USE_CXX11_ABI))


def test_torch_cuda_arch_list_becomes_cmake_architectures():
    assert torch_probe.cmake_architectures("8.0;9.0+PTX") == "80-real;90"
    assert torch_probe.cmake_architectures(" 8.6 9.0a ") == "86-real;90a-real"
    assert torch_probe.cmake_architectures("") == ""
    with pytest.raises(ValueError, match="'sm_90'"):
        torch_probe.cmake_architectures("sm_90")
