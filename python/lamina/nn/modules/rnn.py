"""Recurrent layers with PyTorch's names, parameters and layouts: RNN, LSTM, GRU and their
single-step cells. Each layer and direction runs as one fused node (``lamina.ops.rnn``)."""
import math

from ..._C import ShapeError
from ..._tensor import Tensor
from ...ops.rnn import rnn_layer
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from ._factory import new_param
from .module import Module, check_input

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(owner, input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"[{owner}] {name} should be of type int, got: {type(v).__name__}")
    if hidden_size <= 0:
        raise ValueError(f"[{owner}] hidden_size must be greater than zero, got {hidden_size}")


def _check_state(owner, name, h, shape):
    if not isinstance(h, Tensor):
        raise TypeError(f"[{owner}] expected {name} to be a lamina.Tensor, got {type(h).__name__}")
    if tuple(h.shape) != tuple(shape):
        raise ShapeError(f"[{owner}] expected {name} of shape {tuple(shape)}, got {tuple(h.shape)}")


class RNNBase(Module):
    """Shared body of RNN, LSTM and GRU: parameters ``weight_ih_l{k}{_reverse}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, all from U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        owner = type(self).__name__
        _check_sizes(owner, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"[{owner}] num_layers must be a positive int, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"[{owner}] dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if proj_size:
            if mode != "LSTM":
                raise ValueError(f"[{owner}] proj_size argument is only supported for LSTM, not RNN or GRU")
            raise NotImplementedError(f"[{owner}] proj_size > 0 is not supported")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, 0
        dirs = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih_", (gate_size, layer_input)), ("weight_hh_", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih_", (gate_size,)), ("bias_hh_", (gate_size,))]
                for prefix, shape in shapes:
                    setattr(self, prefix + sfx, new_param(*shape, dtype=dtype, device=device))
                    self._flat_weights_names.append(prefix + sfx)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def all_weights(self):
        """Per layer-direction, its [w_ih, w_hh, b_ih, b_hh] (without biases when bias=False)."""
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i:i + per] for i in range(0, len(ws), per)]

    def flatten_parameters(self):
        """Kept for PyTorch compatibility: the weights are always used in place."""

    def _layer_params(self, layer, d):
        sfx = f"l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return get("weight_ih_" + sfx), get("weight_hh_" + sfx), get("bias_ih_" + sfx), get("bias_hh_" + sfx)

    def _run(self, input, hx, cx):
        """Validates shapes, runs every layer-direction and returns (output, h_n, c_n or None)."""
        owner = type(self).__name__
        check_input(self, input, (2, 3), self.input_size,
                    what=f"(L, {self.input_size}) or " + ("(N, L, " if self.batch_first else "(L, N, ")
                    + f"{self.input_size})")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        dirs = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * dirs, x.shape[1], self.hidden_size) if batched else \
            (self.num_layers * dirs, self.hidden_size)
        states = []
        for name, s in (("hx", hx), ("cx", cx)):
            if s is not None:
                _check_state(owner, name, s, state_shape)
                if not batched:
                    s = s.unsqueeze(1)
            states.append(s)
        hx, cx = states
        h_out, c_out = [], []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                o, h, c = rnn_layer(self.mode, x, hx[k] if hx is not None else None,
                                    cx[k] if cx is not None else None, *self._layer_params(layer, d), reverse=bool(d))
                outs.append(o)
                h_out.append(h)
                c_out.append(c)
            x = outs[0] if dirs == 1 else cat(outs, -1)
        h_n = stack(h_out, 0)
        c_n = stack(c_out, 0) if self.mode == "LSTM" else None
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if not batched:
            x, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return x, h_n, c_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with act tanh or relu.
    ``forward(input, hx=None)`` returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"[RNN] unknown nonlinearity '{nonlinearity}', expected 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n


class LSTM(RNNBase):
    """Long short-term memory with gates i, f, g, o. ``forward(input, (h_0, c_0)=None)`` returns
    (output, (h_n, c_n)). ``proj_size`` is not supported."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("[LSTM] expected hx to be a tuple (h_0, c_0)")
        h0, c0 = hx if hx is not None else (None, None)
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit with gates r, z, n, where ``n = tanh(x W_in^T + b_in + r * (h W_hn^T
    + b_hn))``. ``forward(input, hx=None)`` returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n


class RNNCellBase(Module):
    """One step of a recurrent cell: parameters ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh`` with the layout of the full layers; the step runs the same fused kernel."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = new_param(gate_size, input_size, dtype=dtype, device=device)
        self.weight_hh = new_param(gate_size, hidden_size, dtype=dtype, device=device)
        self.bias_ih = new_param(gate_size, dtype=dtype, device=device) if bias else None
        self.bias_hh = new_param(gate_size, dtype=dtype, device=device) if bias else None
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _step(self, input, hx, cx):
        """(h', c' or None) for input (B, input_size) or (input_size,)."""
        check_input(self, input, (1, 2), self.input_size)
        batched = input.ndim == 2
        shape = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        for name, s in (("hx", hx), ("cx", cx)):
            if s is not None:
                _check_state(type(self).__name__, name, s, shape)
        x = input.unsqueeze(0) if batched else input.reshape(1, 1, -1)
        if not batched:
            hx = hx.unsqueeze(0) if hx is not None else None
            cx = cx.unsqueeze(0) if cx is not None else None
        _, h, c = rnn_layer(self.mode, x, hx, cx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``forward(input, hx=None)`` returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"[RNNCell] unknown nonlinearity '{nonlinearity}', expected 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)=None)`` returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("[LSTMCell] expected hx to be a tuple (h, c)")
        h, c = hx if hx is not None else (None, None)
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, hx=None)`` returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]
