"""Op families. Each module pairs every differentiable op's forward (a call into ``lamina._C``)
with its backward, and lists the names it adds to ``Tensor`` (``TENSOR_METHODS``, ``DUNDERS``)."""
