"""conv2d: float32 NCHW convolutions, forward and forward+backward, lamina against PyTorch
(NumPy has no counterpart).

Rows (N, C_in -> C_out, H x W, kernel k, stride s, padding p): a network's first layer
32 3->64 32x32 k3 p1; 32 64->64 32x32 k3 p1; the strided 32 64->128 32x32 k3 s2 p1;
8 256->256 14x14 k3 p1; the pointwise 8 64->256 14x14 k1; and the depthwise 8 256 (groups 256)
28x28 k3 p1. Forward+backward is ``(conv2d(x, w, b) * g).sum().backward()`` for a fixed random
``g`` with x, w and b requiring gradients; its flops count the three convolution products
(forward, input gradient, weight gradient). Flops are always the direct convolution's
multiply-adds, whatever algorithm runs: where lamina takes Winograd (3x3 at stride 1 with 64+
channels, 2.25x fewer multiply-adds), its GFLOP/s are effective ones and %peak can pass 100%.
``--quick`` runs two small shapes.
"""
import numpy as np

from .harness import Case, NotApplicable, as_lib

# (N, C_in, C_out, H, W, k, stride, padding, groups)
SHAPES = (
    (32, 3, 64, 32, 32, 3, 1, 1, 1),
    (32, 64, 64, 32, 32, 3, 1, 1, 1),
    (32, 64, 128, 32, 32, 3, 2, 1, 1),
    (8, 256, 256, 14, 14, 3, 1, 1, 1),
    (8, 64, 256, 14, 14, 1, 1, 0, 1),
    (8, 256, 256, 28, 28, 3, 1, 1, 256),
)
QUICK = (
    (4, 16, 32, 16, 16, 3, 1, 1, 1),
    (4, 32, 32, 16, 16, 3, 1, 1, 32),
)


def _conv2d(lib):
    if lib == "lamina":
        from lamina.nn import functional
        return functional.conv2d
    if lib == "torch":
        import torch.nn.functional
        return torch.nn.functional.conv2d
    raise NotApplicable(lib)


def conv_case(shape, backward):
    n, cin, cout, h, w, k, s, p, groups = shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    flops = 2.0 * n * cout * oh * ow * (cin // groups) * k * k * (3 if backward else 1)

    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(sz, dtype=np.float32)
                for sz in ((n, cin, h, w), (cout, cin // groups, k, k), (cout,), (n, cout, oh, ow))]

    def build(lib, data):
        conv = _conv2d(lib)
        x, wt, b, g = (as_lib(lib, a) for a in data)
        if backward:
            x, wt, b = (t.detach().requires_grad_(True) for t in (x, wt, b))

        def forward():
            return conv(x, wt, b, stride=s, padding=p, groups=groups)

        if not backward:
            return forward

        def step():
            (forward() * g).sum().backward()
            x.grad = wt.grad = b.grad = None
        return step

    label = f"{n} {cin}->{cout} {h}x{w} k{k}" + (f" s{s}" if s != 1 else "") + (f" p{p}" if p else "")
    if groups != 1:
        label = f"{n} {cin} dw {h}x{w} k{k}" + (f" p{p}" if p else "")
    return Case("conv2d fwd+bwd" if backward else "conv2d fwd", label, "float32", flops, build, setup,
                {"groups": groups})


def cases(quick=False):
    """The suite's cases; ``quick`` keeps two small shapes."""
    return [conv_case(s, bwd) for s in (QUICK if quick else SHAPES) for bwd in (False, True)]
