"""Host memory: lamina keeps freed large CPU buffers (256 KiB and up) for reuse, so a training
loop that allocates the same activations every step does not fault in fresh pages each time.
The cache is bounded by the ``LAMINA_CPU_CACHE_MB`` environment variable (default 1024; 0 turns
it off) and is emptied automatically before an allocation would fail."""
from . import _C


def memory_cached():
    """Bytes of freed host memory the allocator holds for reuse (not used by any tensor)."""
    return _C.cpu_memory_cached()


def empty_cache():
    """Returns the cached free host blocks to the operating system (live tensors are kept)."""
    _C.cpu_empty_cache()
