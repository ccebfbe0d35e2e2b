"""The C++ API: the example program in examples/cpp builds against the installed package
(find_package(lamina) through `python -m lamina --cmake-dir`), runs, and checks lamina's
kernels against plain loops."""
import os
import shutil
import subprocess
import sys

import pytest

import lamina

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "cpp")


def _cmake_dir():
    try:
        return lamina.get_cmake_dir()
    except FileNotFoundError as e:
        pytest.skip(f"C++ API not installed in this tree: {e}")


def test_cmake_dir_from_the_command_line():
    expected = _cmake_dir()
    out = subprocess.run([sys.executable, "-m", "lamina", "--cmake-dir"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
    assert os.path.isfile(os.path.join(lamina.get_include(), "lamina", "lamina.h"))


def test_example_program_builds_and_runs(tmp_path):
    cmake_dir = _cmake_dir()
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run([cmake, "-S", EXAMPLE, "-B", str(build), f"-Dlamina_DIR={cmake_dir}", *gen],
                   check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(build)], check=True, capture_output=True)
    out = subprocess.run([str(build / "lamina_example")], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("ok"), out.stdout
    assert "[matmul] shapes (5, 3) and (4, 7)" in out.stdout
