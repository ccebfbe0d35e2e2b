"""Backend switches and queries: ``lamina.backends.cpu`` reports and narrows the SIMD path."""
from . import cpu  # noqa: F401
