"""lamina's kernels as PyTorch operators: values and gradients against PyTorch's own ops,
zero-copy exchange, torch.compile tracing, and a patched model training in lockstep with
the unpatched original."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import lamina  # noqa: E402
import lamina.torch as lt  # noqa: E402


def _close(a, b, tol):
    a, b = a.detach().double(), b.detach().double()
    assert a.shape == b.shape
    assert torch.linalg.norm(a - b) <= tol * max(torch.linalg.norm(b).item(), 1e-30)


def _grads(fn, *args):
    args = [a.detach().clone().requires_grad_(a.is_floating_point()) for a in args]
    out = fn(*args)
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(3))
    out.backward(g)
    return out, [a.grad for a in args if a.requires_grad]


def _compare(ours, ref, args, tol):
    out1, g1 = _grads(ours, *args)
    out2, g2 = _grads(ref, *args)
    _close(out1, out2, tol)
    for a, b in zip(g1, g2):
        _close(a, b, tol)


@pytest.mark.parametrize("sa,sb", [((5,), (5,)), ((3, 5), (5,)), ((5,), (5, 4)), ((3, 5), (5, 4)),
                                   ((2, 1, 3, 5), (4, 5, 6)), ((1, 7), (7, 1)), ((0, 3), (3, 2))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matmul_matches_torch(sa, sb, dtype):
    a, b = torch.randn(sa, dtype=dtype), torch.randn(sb, dtype=dtype)
    _compare(lt.matmul, torch.matmul, (a, b), 1e-5 if dtype == torch.float32 else 1e-12)


def test_matmul_non_contiguous():
    a, b = torch.randn(6, 5)[::2], torch.randn(3, 5).T
    _compare(lt.matmul, torch.matmul, (a, b), 1e-5)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 7), (0, 7)])
def test_linear_matches_torch(bias, shape):
    x, w = torch.randn(shape), torch.randn(5, 7)
    b = torch.randn(5) if bias else None
    _compare(lambda x, w: lt.linear(x, w, b), lambda x, w: torch.nn.functional.linear(x, w, b), (x, w), 1e-5)


@pytest.mark.parametrize("ns", [(6,), (3, 6)])
def test_norms_match_torch(ns):
    x, w, b = torch.randn(4, 3, 6), torch.rand(ns) + 0.5, torch.randn(ns)
    F = torch.nn.functional
    _compare(lambda x, w, b: lt.layer_norm(x, ns, w, b), lambda x, w, b: F.layer_norm(x, ns, w, b), (x, w, b), 1e-5)
    _compare(lambda x, w: lt.rms_norm(x, ns, w), lambda x, w: F.rms_norm(x, ns, w), (x, w), 1e-5)
    _compare(lambda x: lt.layer_norm(x, ns), lambda x: F.layer_norm(x, ns), (x,), 1e-5)


def test_gradcheck_float64():
    d = dict(dtype=torch.float64, requires_grad=True)
    a, b = torch.randn(2, 3, 4, **d), torch.randn(4, 2, **d)
    assert torch.autograd.gradcheck(lt.matmul, (a, b))
    x, w, bias = torch.randn(3, 4, **d), torch.randn(2, 4, **d), torch.randn(2, **d)
    assert torch.autograd.gradcheck(lt.linear, (x, w, bias))
    g, beta = torch.rand(4, **d), torch.randn(4, **d)
    assert torch.autograd.gradcheck(lambda x, g, b: lt.layer_norm(x, 4, g, b), (x, g, beta))
    assert torch.autograd.gradcheck(lambda x, g: lt.rms_norm(x, 4, g), (x, g))


def test_opcheck():
    a, b = torch.randn(2, 3, 4), torch.randn(4, 5)
    torch.library.opcheck(torch.ops.lamina.matmul, (a, b))
    torch.library.opcheck(torch.ops.lamina.linear, (a, torch.randn(5, 4), torch.randn(5)))
    torch.library.opcheck(torch.ops.lamina.norm_forward, (a, [4], torch.rand(4), None, 1e-5, False))


def test_torch_compile_traces_the_ops():
    model = lt.patch(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2)))
    x = torch.randn(5, 4)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    _close(compiled(x), model(x), 1e-6)
    compiled(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_zero_copy_both_ways():
    t = torch.randn(3, 4)[:, 1:]
    a = lt.to_lamina(t)
    assert a.data_ptr() == t.data_ptr() and tuple(a.stride()) == t.stride()
    b = lamina.randn(5, 2)
    assert lt.to_torch(b).data_ptr() == b.data_ptr()
    t.add_(1.0)  # shared memory: lamina sees the change
    np.testing.assert_array_equal(a.numpy(), t.numpy())


def test_output_is_lamina_memory_that_outlives_the_call():
    out = lt.matmul(torch.ones(2, 3), torch.ones(3, 2))
    import gc
    gc.collect()
    assert torch.equal(out, torch.full((2, 2), 3.0))


def test_patch_swaps_exact_classes_only():
    class MyLinear(torch.nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), MyLinear(3, 3), torch.nn.LayerNorm(3))
    keys = list(model.state_dict())
    lt.patch(model)
    assert type(model[0]) is lt.Linear and type(model[1]) is MyLinear and type(model[2]) is lt.LayerNorm
    assert list(model.state_dict()) == keys


def _train(model, steps, batches):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for i in range(steps):
        x, y = batches[i]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_patched_transformer_trains_like_torch():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
    ref = torch.nn.Sequential(layer, torch.nn.Flatten(), torch.nn.Linear(16 * 5, 3))
    ours = lt.patch(copy.deepcopy(ref))
    assert type(ours[0].linear1) is lt.Linear and type(ours[0].norm1) is lt.LayerNorm
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 5, 16, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(5)]
    a, b = _train(ours, 5, batches), _train(ref, 5, batches)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    for p, q in zip(ours.parameters(), ref.parameters()):
        _close(p, q, 1e-4)


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match="matmul"):
        lt.matmul(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(TypeError, match="lamina.torch"):
        lt.to_lamina(np.ones(3))


# ---------------------------------------------------------------- convolution, attention, cross entropy
F = torch.nn.functional


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), (1, 1, 1, 4)])
def test_conv2d_matches_torch(stride, padding, dilation, groups):
    x, w, b = torch.randn(2, 4, 9, 7), torch.randn(8, 4 // groups, 3, 3), torch.randn(8)
    _compare(lambda x, w, b: lt.conv2d(x, w, b, stride, padding, dilation, groups),
             lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), (x, w, b), 1e-5)


def test_conv_transpose2d_matches_torch():
    x, w, b = torch.randn(2, 4, 5, 6), torch.randn(4, 3, 3, 3), torch.randn(3)
    _compare(lambda x, w, b: lt.conv_transpose2d(x, w, b, 2, 1, 1),
             lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1), (x, w, b), 1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch(causal):
    q, k, v = torch.randn(2, 3, 7, 8), torch.randn(2, 3, 9, 8), torch.randn(2, 3, 9, 5)
    _compare(lambda q, k, v: lt.scaled_dot_product_attention(q, k, v, is_causal=causal),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal), (q, k, v), 1e-5)
    mask = torch.randn(7, 9)
    _compare(lambda q, k, v: lt.scaled_dot_product_attention(q, k, v, attn_mask=mask),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v), 1e-5)


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"reduction": "sum", "ignore_index": 1},
                                {"reduction": "none"}])
def test_cross_entropy_matches_torch(kw):
    logits, target = torch.randn(6, 5), torch.randint(0, 5, (6,))
    weight = torch.rand(5) + 0.5
    _compare(lambda x: lt.cross_entropy(x, target, **kw), lambda x: F.cross_entropy(x, target, **kw), (logits,), 1e-5)
    _compare(lambda x: lt.cross_entropy(x, target, weight, **kw),
             lambda x: F.cross_entropy(x, target, weight, **kw), (logits,), 1e-5)


def test_composite_ops_gradcheck_and_opcheck():
    d = dict(dtype=torch.float64, requires_grad=True)
    x, w, b = torch.randn(1, 2, 5, 4, **d), torch.randn(3, 2, 3, 3, **d), torch.randn(3, **d)
    assert torch.autograd.gradcheck(lambda x, w, b: lt.conv2d(x, w, b, 1, 1), (x, w, b))
    q, k, v = torch.randn(1, 2, 4, 3, **d), torch.randn(1, 2, 5, 3, **d), torch.randn(1, 2, 5, 2, **d)
    assert torch.autograd.gradcheck(lambda q, k, v: lt.scaled_dot_product_attention(q, k, v), (q, k, v))
    torch.library.opcheck(torch.ops.lamina.conv2d, (x.detach(), w.detach(), b.detach(), [1, 1], [1, 1], [1, 1], 1))
    torch.library.opcheck(torch.ops.lamina.sdpa, (q.detach(), k.detach(), v.detach(), None, True, None, False))


def test_sdpa_refuses_dropout():
    q = torch.randn(1, 2, 3)
    with pytest.raises(NotImplementedError, match="dropout"):
        lt.scaled_dot_product_attention(q, q, q, dropout_p=0.1)


def test_patched_mha_with_masks_matches_torch():
    torch.manual_seed(2)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    ours = lt.patch(copy.deepcopy(ref))
    assert type(ours) is lt.MultiheadAttention
    x = torch.randn(3, 6, 16)
    pad = torch.zeros(3, 6)
    pad[1, 4:] = float("-inf")
    causal = torch.nn.Transformer.generate_square_subsequent_mask(6)
    kw = dict(key_padding_mask=pad, attn_mask=causal, need_weights=False)
    _close(ours(x, x, x, **kw)[0], ref(x, x, x, **kw)[0], 1e-5)


def test_patched_cnn_trains_like_torch():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(6 * 2 * 2, 3))
    ours = lt.patch(copy.deepcopy(ref))
    assert type(ours[0]) is lt.Conv2d
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(5, 1, 8, 8, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(5)]
    np.testing.assert_allclose(_train(ours, 5, batches), _train(ref, 5, batches), rtol=1e-4)
    for p, q in zip(ours.parameters(), ref.parameters()):
        _close(p, q, 1e-4)
