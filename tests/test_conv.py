"""conv1d, conv2d, conv_transpose2d and pad: against float64 NumPy references written as loops
over taps, gradcheck, PyTorch parity with random options for the output and every gradient,
and errors."""
import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck
from lamina.nn import functional as F
from conftest import rel_err


def _taps(x, kernel, stride, pad, dilation, groups, oh, ow):
    """(group, ky, kx, the input pixels that tap reads for every output pixel of the group)."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = kernel, stride, dilation, pad
    cg = x.shape[1] // groups
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                yield g, ky, kx, xp[:, g * cg:(g + 1) * cg, ky * dh:ky * dh + sh * (oh - 1) + 1:sh,
                                    kx * dw:kx * dw + sw * (ow - 1) + 1:sw]


def ref_conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Cross-correlation tap by tap; pad = (top, bottom, left, right)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = stride, dilation, pad
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, oh, ow))
    for g, ky, kx, patch in _taps(x, (kh, kw), stride, pad, dilation, groups, oh, ow):
        y[:, g * og:(g + 1) * og] += np.einsum("ncij,oc->noij", patch, w[g * og:(g + 1) * og, :, ky, kx])
    if b is not None:
        y += b[None, :, None, None]
    return y


def ref_conv_transpose2d(x, w, stride, pad, out_pad, dilation, groups):
    """Each input pixel scatters its weighted filter into the (padded) output, then the padding is cut."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + out_pad[0] + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + out_pad[1] + 1
    y = np.zeros((n, og * groups, oh + 2 * ph + sh, ow + 2 * pw + sw))
    for g in range(groups):
        for iy in range(h):
            for ix in range(wd):
                for ky in range(kh):
                    for kx in range(kw):
                        y[:, g * og:(g + 1) * og, iy * sh + ky * dh, ix * sw + kx * dw] += (
                            x[:, g * cg:(g + 1) * cg, iy, ix] @ w[g * cg:(g + 1) * cg, :, ky, kx])
    return y[:, :, ph:ph + oh, pw:pw + ow]


def _pad4(padding, w, dilation):
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation[0] * (w.shape[2] - 1), dilation[1] * (w.shape[3] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    p = (padding, padding) if isinstance(padding, int) else padding
    return (p[0], p[0], p[1], p[1])


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# (x shape, weight shape, options): odd sizes, every option, pointwise, depthwise, empty batch.
CONV2D_CASES = [
    ((2, 3, 7, 9), (4, 3, 3, 3), {}),
    ((1, 3, 7, 9), (5, 3, 3, 2), {"stride": 2, "padding": 1}),
    ((2, 4, 8, 7), (6, 2, 3, 3), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}),
    ((2, 5, 6, 6), (4, 5, 3, 3), {"padding": "same", "dilation": 2}),
    ((2, 5, 6, 7), (4, 5, 2, 4), {"padding": "same"}),
    ((2, 5, 6, 7), (4, 5, 3, 3), {"padding": "valid", "stride": 3}),
    ((2, 6, 5, 5), (7, 6, 1, 1), {}),
    ((2, 6, 5, 5), (7, 6, 1, 1), {"stride": 2}),
    ((2, 6, 5, 5), (7, 6, 1, 1), {"padding": 1}),
    ((1, 8, 5, 5), (60, 8, 1, 1), {}),  # one image: the GEMM's threads split the filters (bias per row)
    ((2, 4, 9, 8), (4, 1, 3, 3), {"padding": 1, "groups": 4}),
    ((2, 4, 9, 8), (8, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 4}),
    ((1, 3, 9, 8), (3, 1, 5, 3), {"padding": (2, 0), "dilation": (1, 3), "groups": 3}),
    ((1, 3, 9, 8), (3, 1, 3, 4), {"padding": 1, "groups": 3}),
    ((0, 3, 5, 5), (2, 3, 3, 3), {}),
    ((1, 1, 1, 1), (1, 1, 1, 1), {}),
    ((1, 2, 3, 3), (2, 2, 3, 3), {}),
    ((1, 40, 21, 19), (24, 40, 3, 3), {"padding": 1}),  # several pixel tiles and K blocks
    # stride 1 runs the direct kernel: channel slices (160 input channels), tiles across rows
    # (OW 37) and per row (OW 32), partial weight blocks, a single image split over channels
    ((1, 160, 6, 37), (13, 160, 3, 3), {"padding": 1}),
    ((1, 16, 70, 32), (30, 16, 3, 3), {"padding": 1}),
    ((3, 20, 11, 9), (14, 10, 3, 2), {"padding": (1, 0), "groups": 2, "dilation": (2, 1)}),
    # column stride 2 splits padded rows into two phases in one pass: even and odd widths with
    # even and odd left padding
    ((2, 3, 6, 10), (4, 3, 3, 3), {"stride": 2, "padding": 2}),
    ((2, 3, 6, 11), (4, 3, 3, 3), {"stride": 2, "padding": (0, 3)}),
    ((1, 2, 5, 2), (3, 2, 1, 2), {"stride": (1, 2)}),
    # rows split by vectors of pairs and a tail (odd and even left padding), phase planes of a
    # row stride 3
    ((1, 3, 9, 45), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 2, 7, 64), (3, 2, 3, 3), {"stride": 2}),
    ((1, 2, 11, 40), (3, 2, 3, 3), {"stride": (3, 2), "padding": (2, 1)}),
    # rows of 12 or 13 pixels with up to 32 filters turn the direct kernel's tile around (pixels
    # broadcast, filters in vectors) on every kernel path: whole and partial filter blocks, rows
    # shorter than a tile, a strided case over phase planes, groups
    ((2, 8, 12, 12), (32, 8, 3, 3), {"padding": 1}),
    ((1, 5, 13, 13), (30, 5, 3, 3), {"padding": 1}),
    ((1, 4, 26, 26), (30, 4, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 6, 12, 12), (60, 3, 3, 3), {"padding": 1, "groups": 2}),
    # output rows a multiple of the vector width tile whole row vectors, two rows per tile when
    # a row is one vector: strided over phase planes, an odd vector count (a one-vector tile),
    # channels in two slices (the second adds)
    ((2, 6, 32, 31), (5, 6, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 100, 7, 16), (3, 100, 3, 3), {"padding": 1}),
    ((1, 3, 5, 64), (17, 3, 3, 3), {"padding": (0, 1), "dilation": (2, 1)}),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("xs,ws,opts", CONV2D_CASES)
def test_conv2d_matches_reference(isa, rng, xs, ws, opts, bias):
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32) if bias else None
    out = F.conv2d(lamina.tensor(x), lamina.tensor(w), lamina.tensor(b) if bias else None, **opts)
    dil = _pair(opts.get("dilation", 1))
    ref = ref_conv2d(x.astype(np.float64), w.astype(np.float64), b, _pair(opts.get("stride", 1)),
                     _pad4(opts.get("padding", 0), w, dil), dil, opts.get("groups", 1))
    assert out.shape == ref.shape
    if ref.size:
        assert rel_err(out.numpy(), ref) < 1e-5


@pytest.mark.parametrize("xs,ws,opts", [((2, 90, 7, 11), (9, 90, 3, 3), {"padding": 1}),
                                         ((1, 5, 9, 30), (4, 5, 2, 3), {"dilation": (1, 2)}),
                                         ((1, 5, 9, 37), (4, 5, 3, 3), {"stride": 2, "padding": 1})])
def test_conv2d_float64_direct(isa, rng, xs, ws, opts):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out = F.conv2d(lamina.tensor(x), lamina.tensor(w), lamina.tensor(b), **opts)
    dil = _pair(opts.get("dilation", 1))
    ref = ref_conv2d(x, w, b, _pair(opts.get("stride", 1)), _pad4(opts.get("padding", 0), w, dil), dil, 1)
    assert out.dtype == lamina.float64
    assert rel_err(out.numpy(), ref) < 1e-12


def ref_conv2d_weight_grad(x, dy, kernel, stride, pad, dilation, groups):
    """dW[o, c, ky, kx] = sum over images and output pixels of dy times the input pixel the tap reads."""
    o, oh, ow = dy.shape[1:]
    og = o // groups
    dw_ = np.zeros((o, x.shape[1] // groups) + tuple(kernel))
    for g, ky, kx, patch in _taps(x, kernel, stride, pad, dilation, groups, oh, ow):
        dw_[g * og:(g + 1) * og, :, ky, kx] = np.einsum("ncij,noij->oc", patch, dy[:, g * og:(g + 1) * og])
    return dw_


# Enough input channels per group for the direct weight-gradient kernel (channels-last input,
# a tile of filters x channels per tap): whole and partial channel blocks, filter counts that
# leave partial row blocks, strides, dilation, asymmetric padding, groups, 1x1 taps at stride 2;
# on one and two threads, where batches of 4 or more images are split between the threads
# (whole images each) and smaller ones split dW.
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,opts", [
    ((2, 64, 9, 11), (20, 64, 3, 3), {"padding": 1}),
    ((3, 96, 13, 10), (30, 48, 3, 2), {"stride": (2, 1), "dilation": (1, 2), "padding": (1, 0), "groups": 2}),
    ((1, 48, 12, 12), (1, 48, 5, 5), {"stride": 3, "padding": 2}),
    ((2, 32, 7, 7), (5, 32, 1, 1), {"stride": 2}),
    ((1, 40, 6, 5), (33, 40, 3, 3), {"padding": (2, 1)}),
    ((5, 32, 6, 7), (12, 32, 3, 3), {"stride": (1, 2), "padding": 1}),
])
def test_conv2d_weight_gradient_direct(isa, rng, threads, dtype, xs, ws, opts):
    x = lamina.tensor(rng.standard_normal(xs).astype(dtype), requires_grad=True)
    w = lamina.tensor(rng.standard_normal(ws).astype(dtype), requires_grad=True)
    prev = lamina.get_num_threads()
    lamina.set_num_threads(threads)
    try:
        y = F.conv2d(x, w, **opts)
        g = rng.standard_normal(y.shape).astype(dtype)
        (y * lamina.tensor(g)).sum().backward()
    finally:
        lamina.set_num_threads(prev)
    dil, stride = _pair(opts.get("dilation", 1)), _pair(opts.get("stride", 1))
    ref = ref_conv2d_weight_grad(x.detach().numpy().astype(np.float64), g.astype(np.float64), ws[2:], stride,
                                 _pad4(opts.get("padding", 0), np.empty(ws), dil), dil, opts.get("groups", 1))
    assert rel_err(w.grad.numpy(), ref) < (1e-5 if dtype == np.float32 else 1e-12)


def test_conv2d_non_contiguous_and_unbatched(rng):
    x = rng.standard_normal((5, 3, 2, 6))  # transposed to (2, 3, 6, 5) below
    w = rng.standard_normal((3, 4, 3, 2))  # permuted to (4, 3, 2, 3)
    xt, wt = lamina.tensor(x).permute(2, 1, 3, 0), lamina.tensor(w).permute(1, 0, 3, 2)
    assert not xt.is_contiguous() and not wt.is_contiguous()
    ref = ref_conv2d(x.transpose(2, 1, 3, 0), w.transpose(1, 0, 3, 2), pad=(1, 1, 0, 0))
    assert rel_err(F.conv2d(xt, wt, padding=(1, 0)).numpy(), ref) < 1e-12
    assert rel_err(F.conv2d(xt[0], wt, padding=(1, 0)).numpy(), ref[0]) < 1e-12


# 3x3 at stride 1 with 64 channels or more runs Winograd F(2x2, 3x3) in float32: odd and
# even sizes (tiles past the output's edge), images smaller than a tile, padding 0, 1, 2 and
# asymmetric, odd channel counts, a non-contiguous input, with and without bias, on every
# kernel path; the input gradient (the same transform on the flipped weight) against its own
# reference.
WINOGRAD_CASES = [
    ((2, 128, 7, 9), (128, 128, 3, 3), {"padding": 1}),
    ((1, 131, 6, 5), (129, 131, 3, 3), {}),
    ((3, 128, 1, 1), (130, 128, 3, 3), {"padding": 1}),
    ((1, 128, 4, 3), (128, 128, 3, 3), {"padding": (2, 0)}),
    ((2, 144, 5, 8), (160, 144, 3, 3), {"padding": "same"}),
]
# Stride 2 takes Winograd from 256 channels (the filter split by tap parity over the phases).
WINOGRAD_STRIDE2_CASES = [
    ((1, 256, 9, 8), (256, 256, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 256, 6, 7), (257, 256, 3, 3), {"stride": 2}),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("xs,ws,opts", WINOGRAD_CASES + WINOGRAD_STRIDE2_CASES)
def test_conv2d_winograd_matches_reference(isa, rng, monkeypatch, xs, ws, opts, bias):
    x = rng.standard_normal(xs[:1] + xs[2:] + xs[1:2]).astype(np.float32).transpose(0, 3, 1, 2)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32) if bias else None
    xt = lamina.tensor(x.transpose(0, 2, 3, 1)).permute(0, 3, 1, 2)  # channels-last storage
    assert xt.is_contiguous() == (xs[2] * xs[3] == 1)
    args = (xt, lamina.tensor(w), lamina.tensor(b) if bias else None)
    out = F.conv2d(*args, **opts).numpy()
    ref = ref_conv2d(x.astype(np.float64), w.astype(np.float64), b, _pair(opts.get("stride", 1)),
                     _pad4(opts.get("padding", 0), w, (1, 1)))
    assert rel_err(out, ref) < 1e-5
    assert np.abs(out - ref).max() < 1e-5 * np.abs(ref).max()
    # The other algorithm rounds differently: equal results would mean this one never ran.
    monkeypatch.setenv("LAMINA_CONV_WINOGRAD", "0")
    direct = F.conv2d(*args, **opts).numpy()
    assert rel_err(direct, ref) < 1e-5 and not np.array_equal(out, direct)


# LAMINA_CONV_WINOGRAD=1 takes the Winograd path below 64 channels too: channel counts that
# leave vector tails in the transforms, one filter.
@pytest.mark.parametrize("xs,ws,opts", [
    ((2, 3, 7, 9), (5, 3, 3, 3), {"padding": 1}),
    ((1, 17, 6, 6), (19, 17, 3, 3), {}),
    ((2, 2, 5, 4), (1, 2, 3, 3), {"padding": (1, 2)}),
    ((1, 4, 101, 90), (6, 4, 3, 3), {"padding": 1}),  # 2295 tiles: bands of tile rows
    ((2, 3, 9, 8), (5, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 17, 10, 7), (19, 17, 3, 3), {"stride": 2}),
    ((1, 4, 33, 9), (6, 4, 3, 3), {"stride": 2, "padding": (1, 0)}),  # an input row no tile reads
    ((1, 4, 200, 150), (6, 4, 3, 3), {"stride": 2, "padding": 1}),  # 1900 tiles: bands
])
def test_conv2d_winograd_forced_on_few_channels(rng, monkeypatch, xs, ws, opts):
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    ref = ref_conv2d(x.astype(np.float64), w.astype(np.float64), b, _pair(opts.get("stride", 1)),
                     _pad4(opts.get("padding", 0), w, (1, 1)))
    args = (lamina.tensor(x), lamina.tensor(w), lamina.tensor(b))
    direct = F.conv2d(*args, **opts).numpy()
    monkeypatch.setenv("LAMINA_CONV_WINOGRAD", "1")
    out = F.conv2d(*args, **opts).numpy()
    assert rel_err(out, ref) < 1e-5 and not np.array_equal(out, direct)


def test_conv2d_winograd_not_past_a_million_channel_pairs(rng, monkeypatch):
    # 1025 x 1024 channels: the transformed weights alone would take 64 MiB and more, so even a
    # forced Winograd runs the direct kernel, bit for bit.
    x, w = rng.standard_normal((1, 1025, 4, 4)).astype(np.float32), rng.standard_normal((1024, 1025, 3, 3)).astype(np.float32)
    args = (lamina.tensor(x), lamina.tensor(w))
    monkeypatch.setenv("LAMINA_CONV_WINOGRAD", "0")
    direct = F.conv2d(*args, padding=1).numpy()
    monkeypatch.setenv("LAMINA_CONV_WINOGRAD", "1")
    assert np.array_equal(F.conv2d(*args, padding=1).numpy(), direct)
    monkeypatch.delenv("LAMINA_CONV_WINOGRAD")
    assert np.array_equal(F.conv2d(*args, padding=1).numpy(), direct)


# The last case has more tiles than one work item takes: bands of tile rows, the first and last
# reaching into the padding.
@pytest.mark.parametrize("xs,ws,opts", WINOGRAD_CASES[:2] + WINOGRAD_CASES[3:] + [
    ((1, 128, 45, 40), (128, 128, 3, 3), {"padding": (2, 1)})])
def test_conv2d_winograd_input_gradient(rng, xs, ws, opts):
    x = lamina.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
    w = rng.standard_normal(ws).astype(np.float32)
    y = F.conv2d(x, lamina.tensor(w), **opts)
    pt, pb, pl, pr = _pad4(opts.get("padding", 0), w, (1, 1))
    ref_y = ref_conv2d(x.detach().numpy().astype(np.float64), w.astype(np.float64), None, (1, 1), (pt, pb, pl, pr))
    assert rel_err(y.detach().numpy(), ref_y) < 1e-5
    g = rng.standard_normal(y.shape).astype(np.float32)
    (y * lamina.tensor(g)).sum().backward()
    # dx is dy convolved with the flipped, transposed weight, padded by 2 - p on each side.
    ref = ref_conv2d(g.astype(np.float64), w.astype(np.float64).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], None,
                     (1, 1), (2 - pt, 2 - pb + xs[2] + pt + pb - 2 - y.shape[2], 2 - pl, 2 - pr + xs[3] + pl + pr - 2 - y.shape[3]))
    assert rel_err(x.grad.numpy(), ref) < 1e-5


def test_conv1d_matches_reference(rng):
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    out = F.conv1d(lamina.tensor(x), lamina.tensor(w), lamina.tensor(b), stride=2, padding=2, dilation=2, groups=2)
    ref = ref_conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 0, 2, 2), (1, 2), 2)[:, :, 0]
    assert rel_err(out.numpy(), ref) < 1e-12
    same = F.conv1d(lamina.tensor(x[0]), lamina.tensor(w[:, :1].repeat(4, 1)), padding="same")
    assert same.shape == (6, 11)


@pytest.mark.parametrize("xs,ws,stride,pad,out_pad,dil,groups", [
    ((2, 4, 5, 6), (4, 3, 3, 3), (2, 2), (1, 1), (1, 0), (1, 1), 1),
    ((1, 4, 4, 3), (4, 2, 2, 3), (1, 2), (0, 1), (0, 1), (2, 1), 2),
    ((2, 3, 3, 3), (3, 1, 3, 3), (3, 3), (1, 1), (2, 2), (1, 1), 3),
    ((2, 6, 4, 4), (6, 5, 1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1),
])
def test_conv_transpose2d_matches_reference(rng, xs, ws, stride, pad, out_pad, dil, groups):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * groups)
    out = F.conv_transpose2d(lamina.tensor(x), lamina.tensor(w), lamina.tensor(b), stride, pad, out_pad, groups, dil)
    ref = ref_conv_transpose2d(x, w, stride, pad, out_pad, dil, groups) + b[None, :, None, None]
    assert out.shape == ref.shape
    assert rel_err(out.numpy(), ref) < 1e-12


def _leaves(rng, *shapes):
    return [lamina.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("xs,ws,opts", [
    ((2, 4, 5, 4), (4, 2, 3, 2), {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2}),
    ((1, 3, 4, 4), (2, 3, 1, 1), {}),
    ((2, 2, 5, 5), (4, 1, 3, 3), {"padding": 1, "stride": 2, "groups": 2}),
    ((1, 2, 4, 5), (3, 2, 2, 3), {"padding": "same"}),
])
def test_conv2d_gradcheck(rng, xs, ws, opts):
    x, w, b = _leaves(rng, xs, ws, (ws[0],))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **opts), (x, w, b))


def test_conv1d_and_transpose_gradcheck(rng):
    x, w, b = _leaves(rng, (2, 2, 7), (4, 1, 3), (4,))
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, groups=2), (x, w, b))
    x, w, b = _leaves(rng, (2, 4, 3, 4), (4, 3, 3, 2), (6,))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
                     (x, w, b))


# Shapes that take the specialised paths: the input gradient at stride 1 as a convolution with the
# flipped weight (16+ channels per group, asymmetric 'same' padding, dilation, groups), and the
# vectorised depthwise loops (rows wider than a vector with a ragged end, a multiplier of 2).
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("isa_name", ["avx2", "base"])
@pytest.mark.parametrize("xs,ws,opts", [
    ((2, 32, 6, 7), (8, 16, 3, 2), {"padding": "same", "dilation": (2, 1), "groups": 2}),
    ((1, 16, 5, 9), (4, 16, 3, 3), {"padding": (2, 1)}),
    ((2, 3, 6, 21), (3, 1, 3, 3), {"padding": 1, "groups": 3}),
    ((1, 2, 5, 19), (4, 1, 3, 5), {"padding": (1, 2), "groups": 2}),
    ((1, 2, 7, 37), (2, 1, 3, 3), {"stride": 2, "padding": 1, "dilation": (1, 2), "groups": 2}),
])
def test_conv2d_backward_paths_torch_parity(rng, isa_name, xs, ws, opts):
    torch = pytest.importorskip("torch")
    cpu = lamina.backends.cpu
    if isa_name == "avx2" and cpu.get_cpu_capability() == "base":
        pytest.skip("no AVX2")
    prev = cpu.get_cpu_capability()
    cpu.set_cpu_capability(isa_name)
    try:
        x, w, b = _leaves(rng, xs, ws, (ws[0],))
        y = F.conv2d(x, w, b, **opts)
        g = rng.standard_normal(y.shape)
        (y * lamina.tensor(g)).sum().backward()
    finally:
        cpu.set_cpu_capability(prev)
    tx, tw, tb = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **opts)
    (ty * torch.tensor(g)).sum().backward()
    assert rel_err(y.detach().numpy(), ty.detach().numpy()) < 1e-12
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert rel_err(ours.grad.numpy(), theirs.grad.numpy()) < 1e-12


def _random_options(rng):
    groups = int(rng.choice([1, 2, 3]))
    cg, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride, dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = (int(rng.integers(0, 2)), int(rng.integers(0, 2)))
    hw = tuple(int(rng.integers(d * (kk - 1) + 1, 10)) for d, kk in zip(dil, k))
    return groups, cg, og, k, stride, dil, pad, hw


@pytest.mark.parametrize("seed", range(6))
def test_conv2d_and_transpose_torch_parity(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    groups, cg, og, k, stride, dil, pad, hw = _random_options(rng)
    n = int(rng.integers(1, 3))
    cases = [(F.conv2d, torch.nn.functional.conv2d, (n, cg * groups) + hw, (og * groups, cg) + k, og * groups,
              dict(stride=stride, padding=pad, dilation=dil, groups=groups))]
    out_pad = tuple(int(rng.integers(0, s)) for s in stride)
    cases.append((F.conv_transpose2d, torch.nn.functional.conv_transpose2d, (n, cg * groups) + hw,
                  (cg * groups, og) + k, og * groups,
                  dict(stride=stride, padding=pad, output_padding=out_pad, dilation=dil, groups=groups)))
    for ours, theirs, xs, ws, nout, opts in cases:
        if ours is F.conv_transpose2d and min((h - 1) * s - 2 * p + d * (kk - 1) + o + 1
                                              for h, s, p, d, kk, o in zip(hw, stride, pad, dil, k, out_pad)) < 1:
            continue
        data = [rng.standard_normal(s).astype(np.float32) for s in (xs, ws, (nout,))]
        lx, lw, lb = (lamina.tensor(a, requires_grad=True) for a in data)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in data)
        ly, ty = ours(lx, lw, lb, **opts), theirs(tx, tw, tb, **opts)
        assert ly.shape == tuple(ty.shape)
        g = rng.standard_normal(ly.shape).astype(np.float32)
        (ly * lamina.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        for a, b in ((ly, ty), (lx.grad, tx.grad), (lw.grad, tw.grad), (lb.grad, tb.grad)):
            assert rel_err(a.detach().numpy(), b.detach().numpy()) < 1e-5


def test_conv2d_gradients_match_torch_on_tiled_shapes(rng):
    """Shapes large enough for several pixel tiles, pointwise and depthwise paths, batch 3."""
    torch = pytest.importorskip("torch")
    for xs, ws, opts in [((3, 20, 17, 18), (12, 20, 3, 3), dict(padding=1)),
                         ((3, 16, 12, 11), (24, 16, 1, 1), {}),
                         ((3, 8, 15, 14), (16, 1, 3, 3), dict(padding=1, groups=8))]:
        data = [rng.standard_normal(s).astype(np.float32) for s in (xs, ws)]
        lx, lw = (lamina.tensor(a, requires_grad=True) for a in data)
        tx, tw = (torch.tensor(a, requires_grad=True) for a in data)
        ly, ty = F.conv2d(lx, lw, **opts), torch.nn.functional.conv2d(tx, tw, **opts)
        g = rng.standard_normal(ly.shape).astype(np.float32)
        (ly * lamina.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        for a, b in ((ly, ty), (lx.grad, tx.grad), (lw.grad, tw.grad)):
            assert rel_err(a.detach().numpy(), b.detach().numpy()) < 1e-5


def test_conv2d_empty_batch_gradients():
    x = lamina.zeros(0, 2, 4, 4, requires_grad=True)
    w = lamina.ones(3, 2, 3, 3, requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad.shape == (0, 2, 4, 4)
    assert np.array_equal(w.grad.numpy(), np.zeros((3, 2, 3, 3), np.float32))


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d(lamina.zeros(1, 3, 5, 5), lamina.zeros(4, 1, 3, 3), groups=2), r"\(1, 3, 5, 5\)\) are not divisible by groups=2"),
    (lambda: F.conv2d(lamina.zeros(1, 4, 5, 5), lamina.zeros(3, 2, 3, 3), groups=2), r"output channels.*\(3, 2, 3, 3\)"),
    (lambda: F.conv2d(lamina.zeros(1, 4, 5, 5), lamina.zeros(2, 3, 3, 3)), r"\(2, 3, 3, 3\).*\(1, 4, 5, 5\)"),
    (lambda: F.conv2d(lamina.zeros(1, 2, 2, 2), lamina.zeros(2, 2, 4, 4), padding=0), r"larger than the padded input"),
    (lambda: F.conv2d(lamina.zeros(2, 2), lamina.zeros(2, 2, 1, 1)), r"3-D.*4-D.*\(2, 2\)"),
    (lambda: F.conv2d(lamina.zeros(1, 2, 3, 3), lamina.zeros(2, 2, 1)), r"4-D weight.*\(2, 2, 1\)"),
    (lambda: F.conv2d(lamina.zeros(1, 2, 3, 3), lamina.zeros(2, 2, 1, 1), lamina.zeros(3)), r"bias shape \(3,\)"),
    (lambda: F.conv2d(lamina.zeros(1, 2, 5, 5), lamina.zeros(2, 2, 3, 3), stride=2, padding="same"), r"strided"),
    (lambda: F.conv2d(lamina.zeros(1, 2, 5, 5), lamina.zeros(2, 2, 3, 3), stride=0), r"stride"),
    (lambda: F.conv1d(lamina.zeros(1, 2, 3), lamina.zeros(2, 2, 5)), r"larger than the padded input"),
    (lambda: F.conv_transpose2d(lamina.zeros(1, 2, 3, 3), lamina.zeros(3, 2, 3, 3)), r"\(3, 2, 3, 3\).*\(1, 2, 3, 3\)"),
    (lambda: F.conv_transpose2d(lamina.zeros(1, 2, 3, 3), lamina.zeros(2, 2, 3, 3), output_padding=1), r"output_padding"),
])
def test_conv_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_conv2d_dtype_errors():
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(lamina.zeros(1, 2, 3, 3, dtype=lamina.int64), lamina.zeros(2, 2, 1, 1, dtype=lamina.int64))
    with pytest.raises(TypeError, match="float64"):
        F.conv2d(lamina.zeros(1, 2, 3, 3), lamina.zeros(2, 2, 1, 1, dtype=lamina.float64))


# ---- pad

@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge"),
                                          ("circular", "wrap")])
@pytest.mark.parametrize("amounts", [(1, 2), (2, 0, 1, 3), (0, 1, 2, 2, 1, 0)])
def test_pad_matches_numpy(rng, mode, np_mode, amounts):
    x = rng.standard_normal((2, 3, 4, 5))
    widths = [(0, 0)] * (4 - len(amounts) // 2) + [(amounts[2 * i], amounts[2 * i + 1])
                                                     for i in reversed(range(len(amounts) // 2))]
    out = F.pad(lamina.tensor(x), amounts, mode=mode)
    assert np.array_equal(out.numpy(), np.pad(x, widths, mode=np_mode))


def test_pad_constant_value_crop_and_gradients(rng):
    x = rng.standard_normal((3, 4))
    out = F.pad(lamina.tensor(x), (-1, 2, 1, -2), value=7.0)
    expect = np.pad(x[:1, 1:], ((1, 0), (0, 2)), constant_values=7.0)
    assert np.array_equal(out.numpy(), expect)
    (leaf,) = _leaves(rng, (2, 3, 4))
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert gradcheck(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode), (leaf,))


def test_pad_errors():
    x = lamina.zeros(2, 3)
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="too large"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        F.pad(x, (1, 1), mode="mirror")
