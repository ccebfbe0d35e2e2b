"""CUDA backend switches, named like PyTorch's: ``lamina.backends.cuda.matmul.allow_tf32``.

TF32 tensor-core products are not implemented yet: the flag is accepted and read by nothing,
so float32 products stay full float32 whatever it says (the default, False, is exact anyway)."""


class _MatmulFlags:
    """``allow_tf32``: let float32 matmuls round their inputs to TF32 on tensor cores (default False)."""

    def __init__(self):
        self._allow_tf32 = False

    @property
    def allow_tf32(self):
        return self._allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"allow_tf32 must be a bool, got {type(value).__name__}")
        self._allow_tf32 = value


matmul = _MatmulFlags()


def is_built():
    """True when lamina was compiled with the CUDA backend."""
    from .. import _C
    return _C.cuda_compiled()
