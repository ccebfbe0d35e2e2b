"""Reading and writing tensors: the safetensors format (``save_file``/``load_file``, as in the
``safetensors`` package) with atomic writes and validated reads."""
from .safetensors import save_file, load_file, read_file, save, load, atomic_write

__all__ = ["save_file", "load_file", "read_file", "save", "load", "atomic_write"]
