"""Backend switches and queries: ``lamina.backends.cpu`` reports and narrows the SIMD path;
``lamina.backends.cuda`` holds the CUDA matmul flags."""
from . import cpu  # noqa: F401
from . import cuda  # noqa: F401
