"""One layer and direction of an RNN (tanh/relu), LSTM or GRU over a whole sequence as a single
autograd node: the forward and the backward are one C++ call each (``csrc/ops/rnn.cpp`` →
``csrc/cpu/rnn_kernels.cpp``), so a sequence costs two graph nodes, not one per step and op."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled

_wrap = Tensor._wrap
MODES = {name: i for i, name in enumerate(_C.RNN_MODES)}  # RNN_TANH, RNN_RELU, LSTM, GRU


def _raw(t):
    return t._t if t is not None else None


def _maybe(t):
    return _wrap(t) if t is not None else None


class RnnLayer(Function):
    """Output: the hidden states of every step with h0 in one extra slot (and LSTM's c_n in
    another); ``rnn_layer`` slices it. One output keeps the graph at one node per layer."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse):
        y, gates, aux = _C.rnn_forward(mode, x._t, _raw(h0), _raw(c0), w_ih._t, w_hh._t, _raw(b_ih), _raw(b_hh),
                                       reverse)
        ctx.save_for_backward(x, w_ih, w_hh, _wrap(y), _wrap(gates), _maybe(aux))
        ctx.args = (mode, reverse, b_ih is not None)
        return y

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():
            raise NotImplementedError("[rnn] double backward (create_graph=True) is not supported")
        x, w_ih, w_hh, y, gates, aux = ctx.saved_tensors
        mode, reverse, has_bias = ctx.args
        grads = _C.rnn_backward(mode, g._t, x._t, y._t, gates._t, _raw(aux), w_ih._t, w_hh._t, has_bias, reverse,
                                x.requires_grad)
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = (_maybe(t) for t in grads)
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, None, None


def rnn_layer(mode, input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """Runs one layer-direction of a recurrent network over ``input`` (T, B, input_size) with
    PyTorch's weight layout (``w_ih`` (G*H, input_size), ``w_hh`` (G*H, H), gates i,f,g,o for
    LSTM and r,z,n for GRU). ``mode`` is "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"; ``hx``/``cx``
    are the initial states (B, H) or None for zeros; ``reverse`` runs time backwards.

    Returns (output (T, B, H), h_n (B, H), c_n (B, H) for LSTM else None)."""
    code = MODES[mode]
    y = RnnLayer.apply(input, hx, cx, w_ih, w_hh, b_ih, b_hh, code, bool(reverse))
    T = input.shape[0]
    output = y.narrow(0, 0 if reverse else 1, T)
    h_n = y[0 if reverse else T]
    c_n = y[T + 1] if mode == "LSTM" else None
    return output, h_n, c_n
