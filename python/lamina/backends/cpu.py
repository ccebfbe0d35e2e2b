"""The CPU kernel path: which ISA build of the kernels runs (avx512, avx2 or base)."""
from .. import _C


def get_cpu_capability():
    """The ISA whose kernels are in use: 'avx512', 'avx2' or 'base'."""
    return _C.get_isa()


def set_cpu_capability(name):
    """Narrows the kernel path (for testing the fallbacks); cannot widen past what the CPU has."""
    _C.set_isa(name)


def cpu_info():
    """CPU vendor, model, SIMD features and cache sizes as detected at run time."""
    return _C.cpu_info()
