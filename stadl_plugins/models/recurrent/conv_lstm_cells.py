"""Convolutional LSTM cells: plain, peephole (HST-LSTM) and attentive (VideoLSTM).

Three cells that share one layout so they can be stacked, unrolled and tested the
same way:

* :class:`ConvLSTMCell` - Shi et al. ConvLSTM without peepholes (VideoLSTM eqs.
  1-6 with ``X~ = X``).
* :class:`PeepholeConvLSTMCell` - Ramaswamy et al. (HST-LSTM) layer-1 equations:
  element-wise peepholes ``U_ci o c_{m-1}`` on the input gate, ``U_cf o c_{m-1}``
  on the forget gate and ``U_co o c_m`` (the *new* cell) on the output gate. It
  also accepts a ``pooled_cell`` that replaces ``c_{m-1}`` in the cell update,
  which is what the higher HST-LSTM layers need (``c = f o pc + i o g``).
* :class:`ConvALSTMCell` - Li et al. (VideoLSTM) convolutional attention LSTM,
  eqs. 1-9: ``Z = W_z * tanh(W_xa * X + W_ha * H_{t-1} + b_a)``, ``A`` = softmax
  of ``Z`` over all spatial positions, ``X~ = A o X`` (channel-broadcast), then
  the ConvLSTM gates on ``X~``. The attention query can be replaced by another
  tensor (the motion layer's current hidden state, eqs. 10-15).

Implementation notes (shared by all cells):

* **Fused gates.** One convolution per input: ``input_conv`` maps ``x`` to the
  four gate pre-activations and ``hidden_conv`` maps ``h_{t-1}`` to them
  (``W_x* x + W_h * h`` is the sum of both). The output channels of both are
  ordered ``[i, f, g, o]``, ``hidden_channels`` each (``g`` = the tanh candidate
  ``W_xc * x + W_hc * h + b_c``). Only ``input_conv`` has a bias (the ``b`` of
  the equations); the forget-gate bias starts at 1 (a common choice; the papers
  do not say).
* **State.** ``state=(h, c)``, each ``(N, hidden, H, W)``; ``None`` means zeros.
  Every cell returns ``(h, (h, c))`` (the attentive cell returns the attention
  map as a third value).
* **Padding.** ``kernel_size // 2`` ("same"), so the state keeps the input's
  spatial size. Kernels must be odd.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

State = tuple[torch.Tensor, torch.Tensor]


def _check_odd(name: str, k: int) -> int:
    k = int(k)
    if k < 1 or k % 2 == 0:
        raise ValueError(f'{name} must be a positive odd integer (same padding), '
                         f'got {k}')
    return k


def _check_input(x: torch.Tensor, channels: int, what: str = 'x') -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f'{what} must be (N, {channels}, H, W), got '
                         f'{tuple(x.shape)}')


class ConvLSTMCell(nn.Module):
    """Plain convolutional LSTM cell (no peepholes).

    ``i, f, o = sigmoid(W_x* x + W_h * h + b)``, ``g = tanh(...)``,
    ``c = f o c_prev + i o g``, ``h = o o tanh(c)``.

    Args:
        in_channels: channels of the input ``x``.
        hidden_channels: channels of ``h`` and ``c``.
        kernel_size: input-to-state kernel (odd).
        hidden_kernel_size: state-to-state kernel (default ``kernel_size``).
        forget_bias: initial forget-gate bias.

    Shapes:
        x: ``(N, in_channels, H, W)``; state: ``((N, hidden, H, W),) * 2``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 hidden_kernel_size: int | None = None, forget_bias: float = 1.0):
        super().__init__()
        if in_channels < 1 or hidden_channels < 1:
            raise ValueError('in_channels and hidden_channels must be >= 1, got '
                             f'{in_channels}, {hidden_channels}')
        k_x = _check_odd('kernel_size', kernel_size)
        k_h = _check_odd('hidden_kernel_size',
                         kernel_size if hidden_kernel_size is None else hidden_kernel_size)
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.input_conv = nn.Conv2d(in_channels, 4 * hidden_channels, k_x,
                                    padding=k_x // 2, bias=True)
        self.hidden_conv = nn.Conv2d(hidden_channels, 4 * hidden_channels, k_h,
                                     padding=k_h // 2, bias=False)
        self.forget_bias = forget_bias
        self.reset_gate_bias()

    def reset_gate_bias(self) -> None:
        """Zero gate biases except the forget gate's (``forget_bias``)."""
        hc = self.hidden_channels
        with torch.no_grad():
            self.input_conv.bias.zero_()
            self.input_conv.bias[hc:2 * hc].fill_(self.forget_bias)

    def zero_state(self, x: torch.Tensor) -> State:
        """Zero ``(h, c)`` matching ``x``'s batch, size, dtype and device."""
        n, _, hgt, wid = x.shape
        z = x.new_zeros(n, self.hidden_channels, hgt, wid)
        return z, z.clone()

    def _prepare_state(self, x: torch.Tensor, state: State | None) -> State:
        if state is None:
            return self.zero_state(x)
        h, c = state
        expect = (x.shape[0], self.hidden_channels, x.shape[2], x.shape[3])
        if tuple(h.shape) != expect or tuple(c.shape) != expect:
            raise ValueError(f'state (h, c) must both be {expect}, got '
                             f'{tuple(h.shape)} and {tuple(c.shape)}')
        return h, c

    def gate_preactivations(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``W_x * x + W_h * h + b`` for all gates: ``(N, 4 * hidden, H, W)``."""
        return self.input_conv(x) + self.hidden_conv(h)

    def forward(self, x: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        """One step.

        Args:
            x: ``(N, in_channels, H, W)``.
            state: ``(h, c)`` of the previous step or None (zeros).

        Returns:
            tuple: ``h`` ``(N, hidden, H, W)`` and the new state ``(h, c)``.
        """
        _check_input(x, self.in_channels)
        h, c = self._prepare_state(x, state)
        i, f, g, o = self.gate_preactivations(x, h).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class PeepholeConvLSTMCell(ConvLSTMCell):
    """ConvLSTM with element-wise peepholes (HST-LSTM layer-1 cell).

    ``i = sigmoid(W_xi*x + U_hi*h + U_ci o c_prev + b_i)``,
    ``f = sigmoid(W_xf*x + U_hf*h + U_cf o c_prev + b_f)``,
    ``c = f o c_base + i o tanh(W_xc*x + U_hc*h + b_c)``,
    ``o = sigmoid(W_xo*x + U_ho*h + U_co o c + b_o)``, ``h = o o tanh(c)``,
    where ``c_base = c_prev`` unless a ``pooled_cell`` is given (HST-LSTM higher
    layers: ``c_base = pc``; the peepholes of ``i``/``f`` still look at the
    layer's own ``c_prev``, as in the paper's equations).

    Args:
        in_channels, hidden_channels, kernel_size, hidden_kernel_size,
            forget_bias: see :class:`ConvLSTMCell`.
        peephole_size: ``None`` for per-channel peephole weights ``(hidden, 1, 1)``
            broadcast over space (input size free), or ``(H, W)`` for Shi et al.'s
            per-location weights ``(hidden, H, W)`` (input size fixed).

    Paper gap: HST-LSTM writes ``U_c o c`` (Hadamard) without the shape of
    ``U_c``; per-channel is the default because it does not tie the model to one
    feature-map size. Peephole weights start at 0 (they still get gradients:
    ``dL/dU_c = c * dL/dgate``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 hidden_kernel_size: int | None = None, forget_bias: float = 1.0,
                 peephole_size: Sequence[int] | None = None):
        super().__init__(in_channels, hidden_channels, kernel_size,
                         hidden_kernel_size, forget_bias)
        shape = (hidden_channels, 1, 1) if peephole_size is None else (
            hidden_channels, int(peephole_size[0]), int(peephole_size[1]))
        self.peephole_size = None if peephole_size is None else tuple(shape[1:])
        self.peephole_i = nn.Parameter(torch.zeros(shape))
        self.peephole_f = nn.Parameter(torch.zeros(shape))
        self.peephole_o = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor, state: State | None = None,
                pooled_cell: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """One step.

        Args:
            x: ``(N, in_channels, H, W)``.
            state: ``(h, c)`` of the previous step or None (zeros).
            pooled_cell: optional ``(N, hidden, H, W)`` that replaces ``c_prev`` in
                the cell update (not in the peepholes).

        Returns:
            tuple: ``h`` and the new state ``(h, c)``.
        """
        _check_input(x, self.in_channels)
        if self.peephole_size is not None and tuple(x.shape[2:]) != self.peephole_size:
            raise ValueError(f'this cell has per-location peepholes of size '
                             f'{self.peephole_size}, got input {tuple(x.shape[2:])}')
        h, c_prev = self._prepare_state(x, state)
        if pooled_cell is not None and pooled_cell.shape != c_prev.shape:
            raise ValueError(f'pooled_cell must be {tuple(c_prev.shape)}, got '
                             f'{tuple(pooled_cell.shape)}')
        i, f, g, o = self.gate_preactivations(x, h).chunk(4, dim=1)
        i = torch.sigmoid(i + self.peephole_i * c_prev)
        f = torch.sigmoid(f + self.peephole_f * c_prev)
        c_base = c_prev if pooled_cell is None else pooled_cell
        c = f * c_base + i * torch.tanh(g)
        o = torch.sigmoid(o + self.peephole_o * c)
        h = o * torch.tanh(c)
        return h, (h, c)


def spatial_softmax(z: torch.Tensor) -> torch.Tensor:
    """Softmax of a score map ``(N, 1, H, W)`` over all ``H * W`` positions."""
    n, ch, hgt, wid = z.shape
    return torch.softmax(z.reshape(n, ch, hgt * wid), dim=-1).reshape(n, ch, hgt, wid)


class ConvALSTMCell(ConvLSTMCell):
    """Convolutional attention LSTM cell (VideoLSTM eqs. 1-9).

    ``Z = W_z * tanh(W_xa * X + W_ha * Q + b_a)`` with ``Q = H_{t-1}`` (or the
    ``attention_query`` given to :meth:`forward`, e.g. the motion layer's
    ``H^m_t``), ``A = softmax_{i,j}(Z)`` ``(N, 1, H, W)``, ``X~ = A o X``, then the
    gates of :class:`ConvLSTMCell` on ``X~``.

    Args:
        in_channels, hidden_channels, kernel_size, hidden_kernel_size,
            forget_bias: see :class:`ConvLSTMCell` (the paper: 3x3).
        attention_channels: width of the ``tanh`` layer (paper: 512 = hidden;
            default ``hidden_channels``).
        attention_kernel_size: kernel of ``W_xa``, ``W_ha``, ``W_z`` (paper: 1x1).
        query_channels: channels of the attention query (default
            ``hidden_channels``; set it for a motion layer of another width).
        rescale_attention: multiply ``A`` by ``H * W`` before weighting ``X``
            (mean weight 1). Off by default = the paper's ``X~ = A o X``; on in
            every shipped config.

    Paper gap: eq. 8 normalises over the ``N x N`` positions and eq. 9 multiplies
    without taking the expectation, which scales the input by ``~1/(H*W)``
    (1/300 on a 15x20 map); ``rescale_attention`` is our fix (a gap we filled),
    kept optional so the class default is the paper's equation.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 hidden_kernel_size: int | None = None, forget_bias: float = 1.0,
                 attention_channels: int | None = None, attention_kernel_size: int = 1,
                 query_channels: int | None = None, rescale_attention: bool = False):
        super().__init__(in_channels, hidden_channels, kernel_size,
                         hidden_kernel_size, forget_bias)
        k_a = _check_odd('attention_kernel_size', attention_kernel_size)
        att = attention_channels or hidden_channels
        self.query_channels = query_channels or hidden_channels
        self.attention_input_conv = nn.Conv2d(in_channels, att, k_a, padding=k_a // 2,
                                              bias=True)           # W_xa, b_a
        self.attention_query_conv = nn.Conv2d(self.query_channels, att, k_a,
                                              padding=k_a // 2, bias=False)  # W_ha
        self.attention_score_conv = nn.Conv2d(att, 1, k_a, padding=k_a // 2,
                                              bias=False)          # W_z
        self.rescale_attention = rescale_attention

    def attention(self, x: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Spatial attention ``A`` ``(N, 1, H, W)``, summing to 1 over ``H, W``."""
        z = self.attention_score_conv(torch.tanh(
            self.attention_input_conv(x) + self.attention_query_conv(query)))
        return spatial_softmax(z)

    def forward(self, x: torch.Tensor, state: State | None = None,
                attention_query: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """One step.

        Args:
            x: ``(N, in_channels, H, W)`` (the feature map ``X_t``).
            state: ``(h, c)`` of the previous step or None (zeros).
            attention_query: ``(N, query_channels, H, W)`` to condition the
                attention on instead of ``h_{t-1}`` (motion-based attention).

        Returns:
            tuple: ``h``, the new state ``(h, c)`` and the attention map ``A``
            ``(N, 1, H, W)``.
        """
        _check_input(x, self.in_channels)
        h, c = self._prepare_state(x, state)
        if attention_query is None:
            if self.query_channels != self.hidden_channels:
                raise ValueError('this cell expects an attention_query with '
                                 f'{self.query_channels} channels')
            attention_query = h
        else:
            _check_input(attention_query, self.query_channels, 'attention_query')
            if attention_query.shape[2:] != x.shape[2:]:
                raise ValueError('attention_query must have the spatial size of x '
                                 f'{tuple(x.shape[2:])}, got '
                                 f'{tuple(attention_query.shape[2:])}')
        a = self.attention(x, attention_query)
        weight = a * (a.shape[2] * a.shape[3]) if self.rescale_attention else a
        x_att = weight * x                                         # X~ = A o X
        i, f, g, o = self.gate_preactivations(x_att, h).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c), a


def unroll(cell: Callable, inputs: torch.Tensor | Sequence[torch.Tensor],
           state: State | None = None, time_dim: int = 2, **step_kwargs):
    """Run a cell over time.

    Args:
        cell: any of the cells above (or a callable with the same signature).
        inputs: ``(N, C, T, H, W)`` (``time_dim=2``, MMAction2's layout), another
            ``time_dim``, or a sequence of ``T`` tensors ``(N, C, H, W)``.
        state: initial ``(h, c)`` or None (zeros).
        **step_kwargs: passed to every step; a value that is a list/tuple of
            length ``T`` is indexed per step (e.g. ``attention_query=[...]``).

    Returns:
        tuple: hidden states stacked on ``time_dim`` (``(N, hidden, T, H, W)`` for
        the default), the final state ``(h, c)``, and the list of any extra
        per-step outputs (attention maps for :class:`ConvALSTMCell`), stacked on
        ``time_dim`` too (an empty list for the plain cells).
    """
    steps = (list(inputs) if isinstance(inputs, (list, tuple))
             else list(inputs.unbind(time_dim)))
    if not steps:
        raise ValueError('unroll needs at least one time step')
    hs, extras = [], []
    for t, x in enumerate(steps):
        kw = {k: (v[t] if isinstance(v, (list, tuple)) else v)
              for k, v in step_kwargs.items()}
        out = cell(x, state, **kw)
        h, state = out[0], out[1]
        hs.append(h)
        if len(out) > 2:
            extras.append(out[2:])
    stacked_extras = [torch.stack(list(e), dim=time_dim) for e in zip(*extras)]
    return torch.stack(hs, dim=time_dim), state, stacked_extras


__all__ = ['ConvLSTMCell', 'PeepholeConvLSTMCell', 'ConvALSTMCell',
           'spatial_softmax', 'unroll', 'State']
