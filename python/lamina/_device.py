"""Devices: ``lamina.device("cpu")``, ``"cuda"``, ``"cuda:1"``."""


class device:
    """Where a tensor lives. ``type`` is 'cpu' or 'cuda'; ``index`` is the GPU number."""
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"unknown device type {kind!r}; expected 'cpu' or 'cuda'")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"invalid device index in {spec!r}")
            index = int(idx)
        self.type = kind
        self.index = index if kind == "cuda" else None

    @property
    def _codes(self):
        return (0, 0) if self.type == "cpu" else (1, self.index or 0)

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")


def to_device(obj):
    if obj is None:
        return CPU
    if isinstance(obj, device):
        return obj
    if isinstance(obj, int):
        return device("cuda", obj)
    return device(obj)
