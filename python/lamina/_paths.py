"""Where the installed package keeps the C++ API (headers, library, CMake package), for
programs that link lamina's kernels without Python."""
import os

_ROOT = os.path.dirname(os.path.abspath(__file__))


def get_include():
    """The folder holding ``lamina/lamina.h``."""
    return os.path.join(_ROOT, "include")


def get_library_dir():
    """The folder holding ``liblamina_kernels.so``."""
    return os.path.join(_ROOT, "lib")


def get_cmake_dir():
    """The folder to hand CMake as ``lamina_DIR`` (or put on ``CMAKE_PREFIX_PATH``) so that
    ``find_package(lamina)`` provides the target ``lamina::kernels``. Raises FileNotFoundError
    in a source tree, where the C++ API is not installed (``pip install .`` installs it)."""
    path = os.path.join(_ROOT, "share", "cmake", "lamina")
    if not os.path.isfile(os.path.join(path, "laminaConfig.cmake")):
        raise FileNotFoundError(f"lamina's CMake package is not installed under {_ROOT} (a source checkout?); "
                                "install lamina with pip, or run `cmake --install` on a build tree")
    return path
