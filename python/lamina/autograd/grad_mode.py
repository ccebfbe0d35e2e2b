"""Gradient recording switch: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""
import functools
import threading

_state = threading.local()


def is_grad_enabled():
    """True when operations on tensors that require grad are being recorded."""
    return getattr(_state, "enabled", True)


class _GradMode:
    _mode = True

    def __new__(cls, *args):
        # ``@no_grad`` without parentheses: the function arrives in place of the (no) arguments.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self, *args):
        if args:
            raise TypeError(f"{type(self).__name__}() takes no arguments")

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = self._mode

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator under which no operation is recorded for autograd."""
    _mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns recording back on inside ``no_grad``."""
    _mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)``: as a call it switches at once; as a context it restores on exit."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _state.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        # As a decorator the switch applies only inside calls: undo the one __init__ made.
        _state.enabled = self._prev
        return super().__call__(fn)

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False
