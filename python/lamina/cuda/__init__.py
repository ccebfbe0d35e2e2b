"""CUDA devices: availability and counts. Works (reporting no devices) on machines without a
GPU or driver, and in builds without CUDA."""
from .. import _C


def is_available():
    """True when lamina was built with CUDA and at least one GPU is usable."""
    return _C.cuda_compiled() and _C.cuda_device_count() > 0


def is_compiled():
    return _C.cuda_compiled()


def device_count():
    return _C.cuda_device_count()


def get_device_name(device=0):
    return _C.cuda_device_name(int(getattr(device, "index", device) or 0))


def synchronize(device=0):
    """Waits for all work queued on the device to finish."""
    _C.cuda_synchronize(int(getattr(device, "index", device) or 0))
