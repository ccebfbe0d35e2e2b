"""CUDA devices: availability and counts. Works (reporting no devices) on machines without a
GPU or driver, and in builds without CUDA."""
from .. import _C


def is_available():
    """True when lamina was built with CUDA and at least one GPU is usable."""
    return _C.cuda_compiled() and _C.cuda_device_count() > 0


def is_compiled():
    """True when this build of lamina contains the CUDA backend (a GPU may still be absent)."""
    return _C.cuda_compiled()


def device_count():
    """Number of usable CUDA devices (0 without a driver, a GPU or CUDA support)."""
    return _C.cuda_device_count()


def get_device_name(device=0):
    """The GPU's product name."""
    return _C.cuda_device_name(int(getattr(device, "index", device) or 0))


def synchronize(device=0):
    """Waits for all work queued on the device to finish."""
    _C.cuda_synchronize(int(getattr(device, "index", device) or 0))


def _index(device):
    if device is None:
        return 0
    if isinstance(device, str):
        from .._device import device as _dev
        device = _dev(device)
    return int(getattr(device, "index", device) or 0)


def memory_allocated(device=None):
    """Bytes of device memory held by live tensors (rounded to the allocator's size classes);
    0 for a device nothing has been allocated on, and without CUDA."""
    return _C.cuda_memory_allocated(_index(device))


def max_memory_allocated(device=None):
    """Peak of ``memory_allocated`` since start-up or the last ``reset_peak_memory_stats``."""
    return _C.cuda_max_memory_allocated(_index(device))


def memory_reserved(device=None):
    """Bytes held from the driver: live tensors plus the allocator's cache of freed blocks."""
    return _C.cuda_memory_reserved(_index(device))


def reset_peak_memory_stats(device=None):
    """Restarts ``max_memory_allocated`` from the current allocation."""
    _C.cuda_reset_peak_memory_stats(_index(device))


def empty_cache():
    """Returns the cached free blocks of every device to the driver (live tensors are kept)."""
    _C.cuda_empty_cache()
