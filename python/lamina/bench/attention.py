"""attention: scaled_dot_product_attention, lamina against PyTorch's CPU kernel, float32.

Rows: B=4, H=8, E=64, L=S in {512, 1024, 2048, 4096}, causal and not, forward and
forward+backward (``(out * g).sum().backward()`` with a fixed random ``g``). GFLOP/s count the
matrix products only, 4·B·H·L·S·E for the forward and 2.5 times that for forward+backward
(FlashAttention's convention: the backward's five products), halved under the causal mask.

Peak memory (the ``note`` column, MiB): each library's extra resident memory during one call.
Before that call the harness's inputs are already resident; the kernel's high-water mark
(``VmHWM`` in /proc/self/status, reset by writing 5 to /proc/self/clear_refs) minus the
resident size before the call (after freed heap pages went back to the system) is what the
call added: outputs, saved tensors, gradients and workspace. Where /proc cannot be reset the note is left out.
"""
import ctypes
import ctypes.util
import gc

import numpy as np

from .harness import Case, NotApplicable, as_lib

B, H, E = 4, 8, 64
LENGTHS = (512, 1024, 2048, 4096)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def _release_free_heap():
    """Returns freed heap pages (and lamina's cache of freed blocks) to the system so that earlier
    cases' memory does not hide this one's."""
    import lamina
    lamina.cpu.empty_cache()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_extra_mib(fn):
    """Calls fn() once and returns the resident memory it added at its peak, in MiB (None if unknown)."""
    try:
        gc.collect()
        _release_free_heap()
        before = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        fn()
        return max(0, _status_kib("VmHWM") - before) / 1024
    except OSError:
        return None


def _sdpa(lib):
    if lib == "lamina":
        from lamina.nn.functional import scaled_dot_product_attention
        return scaled_dot_product_attention
    if lib == "torch":
        from torch.nn.functional import scaled_dot_product_attention
        return scaled_dot_product_attention
    raise NotApplicable(lib)


def attention_case(L, causal, backward):
    shape = (B, H, L, E)
    flops = 4.0 * B * H * L * L * E * (2.5 if backward else 1.0) * (0.5 if causal else 1.0)
    extra = {}

    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(shape, dtype=np.float32) for _ in range(4)]

    def build(lib, data):
        sdpa = _sdpa(lib)
        q, k, v, g = (as_lib(lib, a) for a in data)
        if backward:
            q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))

        def forward():
            return sdpa(q, k, v, is_causal=causal)

        def step():
            (forward() * g).sum().backward()
            q.grad = k.grad = v.grad = None

        fn = step if backward else forward
        mib = peak_extra_mib(fn)
        if mib is not None:
            extra["note"] = (extra.get("note", "") + f" {lib} {mib:.0f} MiB").strip()
        return fn

    op = ("causal " if causal else "") + ("sdpa fwd+bwd" if backward else "sdpa fwd")
    return Case(op, f"{B}x{H}x{L}x{E}", "float32", flops, build, setup, extra)


def cases(quick=False):
    lengths = LENGTHS[:1] if quick else LENGTHS
    return [attention_case(L, c, bwd) for L in lengths for c in (False, True) for bwd in (False, True)]
