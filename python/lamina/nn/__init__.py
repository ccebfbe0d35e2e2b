"""Neural-network building blocks. ``lamina.nn.functional`` holds the stateless ops."""
from . import functional  # noqa: F401
