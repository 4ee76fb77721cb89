"""HST-LSTM neck: hierarchical peephole ConvLSTM with attention pooling between
layers (Ramaswamy, Seemakurthy, Gubbi, Purushothaman, "Spatio-temporal action
detection and localization using a hierarchical LSTM", CVPR 2020 workshops).

The neck sits between a 3D backbone (the paper: Inception-I3D, see
:class:`~stadl_plugins.models.backbones.InceptionI3D`; any backbone that keeps a
time axis works) and MMAction2's stock ``AVARoIHead``. Its input is a clip
feature ``(N, C, T, H, W)`` whose ``T`` steps are the paper's "micro-steps"
(I3D features every 1/3 s): ``T = seconds * micro_steps``.

Architecture (paper Sec. 4, Figs. 1-5):

* **Layer 1** (paper Fig. 2): a :class:`PeepholeConvLSTMCell` run over the
  ``micro_steps`` steps of each second; "the previous second LSTM cell state is
  fed as the initial cell state to the next LSTM cell".
* **Layers 2..L** (Figs. 3-4): step ``m`` of layer ``l`` pools the ``k`` states
  ``n = (m-1)k+1 .. mk`` of layer ``l-1`` with two attention-pooling modules:

  - context ``C^ = conv_64(I3D features)`` (the I3D features averaged over the
    span of input steps step ``m`` covers);
  - ``yc = <C^, c>``, ``yh = <C^, h>``: a per-location inner product over
    channels, giving one ``H x W`` score map per candidate;
  - ``g_c``: softmax over the ``k`` lower cells **and** the layer's own previous
    cell ``c_{m-1}^l`` -> ``pc = sc_{m-1} o c_{m-1}^l + sum_n sc_n o c_n^{l-1}``;
  - ``g_h``: softmax over the ``k`` lower hidden states only ->
    ``ph = sum_n sh_n o h_n^{l-1}``;
  - a peephole ConvLSTM step with input ``ph`` and ``pc`` in place of
    ``c_{m-1}`` in the cell update (``c = f o pc + i o g``).

* **Output for RoI pooling** (Fig. 5): the channel concatenation of any of
  ``'appearance'`` (keyframe 2D features), ``'backbone'`` (the I3D features)
  and ``'hstlstm'`` (the top layer's hidden state), ``output_features`` in that
  order, all at the backbone feature's spatial size. With the default
  ``output_mode='project'`` a 1x1x1 projection of that concatenation, initialised
  to zero, is added to the backbone feature: the output has the backbone's
  channels and time steps (a one-line swap into a stock config, the stock
  ``bbox_head.in_channels`` unchanged; SlowFast: the slow pathway is replaced, the
  fast one passed through) and the neck starts as the identity.
  ``output_mode='concat'`` returns the concatenation itself (the paper's form):
  set ``BBoxHeadAVA.in_channels`` to :attr:`HSTLSTMNeck.out_channels`.
* **Clip length**: the hierarchy needs ``T`` divisible by ``micro_steps`` and
  ``prod(pool_sizes)``; with the default ``input_steps='auto'`` a feature of
  another length is resampled in time (adaptive average pooling) to the nearest
  such multiple (stock SlowOnly/SlowFast 4x16x1: 4 -> 3 steps).

Resolved typos of the paper (its higher-layer equations):

* The forget-gate equation repeats the input gate's weights ``W_xi, U_hi,
  U_ci``; we use separate forget-gate weights ``W_xf, U_hf, U_cf`` (as in the
  layer-1 equations and every LSTM), i.e. the fused gate conv's ``f`` block.
* The formula for ``sc_{j+n}^{l-1}`` has the sum of all exponentials in its
  numerator (it would equal 1); we read it as
  ``sc_n = exp(yc_n) / (exp(yc_{m-1}^l) + sum_n' exp(yc_n'))``, the same
  normaliser as ``sc_{m-1}^l``, so the ``k + 1`` cell weights sum to 1 at each
  location. The denominator's ``yc_{m-1}^{l-1}`` is read as ``yc_{m-1}^l``
  (the layer's own previous cell, as in ``sc_{m-1}^l`` one line above).

Paper gaps we filled (our choices):

* ``<C^, c>`` is a per-location channel inner product (``C^`` has as many
  channels as the hidden state: both 64 in the paper), divided by
  ``sqrt(hidden_channels)`` when ``scale_pool_logits`` (default on, as in
  scaled dot-product attention; the paper does not scale).
* One context conv per pooling module (``g_c`` and ``g_h`` of each layer),
  ``context_kernel_size`` 3x3; LSTM kernels 3x3 (the paper gives no sizes).
* "Five separate LSTM cells, one for each second" in layer 1 share their
  weights here (so a clip may span any number of seconds); at the start of each
  second the hidden state is reset to zero (only the cell state is said to be
  carried) unless ``reset_hidden_each_second=False``.
* At the first step of a higher layer there is no previous own cell: its
  candidate is left out of ``g_c`` (weight exactly 0) instead of pooling zeros.
* Which top-layer step feeds the keyframe's RoI pooling: the paper detects at
  1 fps, "the keyframe at each second is mapped to the object bounding box and
  action classification", RoI pooling "for every second" (Sec. 5, 6.1), i.e. each
  keyframe with *its own second's* step. MMAction2 gives one keyframe per clip,
  at frame ``clip_len // 2`` of the clip (``SampleAVAFrames``: offsets
  ``(arange(clip_len) - clip_len // 2) * frame_interval`` around it), so the
  default ``output_step='keyframe'`` takes the top-layer step whose time window
  contains the clip centre: step ``M // 2`` of ``M`` equal steps (the keyframe's
  relative time ``(clip_len // 2 + 1/2) / clip_len`` lies in ``[1/2, 1/2 + 1/M)``
  for even ``M`` and in the middle step for odd ``M``, for any ``clip_len >= M``;
  stock ``AVADataset``'s one-frame ``start_index`` shift does not change the
  step). ``'center'`` is the same step (its older name, kept). ``'last'`` (the
  default before) uses the last step, which has seen the whole clip but lies
  after the keyframe: its frames are +0.6 to +1.2 s after it on the synthetic
  9x3x1 clip (3 steps of 3 frames 0.3 s apart), about +1.5 to +2.5 s on the 5-s
  AVA clip -- the keyframe would be classified from a later second.
  ``'all'`` keeps every step (the stock RoI extractor then pools them over time).
  ``'backbone'`` features are averaged over the same step's span; ``'appearance'``
  is the backbone's centre time slice (the keyframe) unless the backbone returns
  a tuple with a separate 2D feature (``appearance_index``): the paper's
  ResNet-50 keyframe stream would go there.
* Peephole weights are per channel (``peephole_size=None``) unless a fixed
  feature size is given.

Control (ours, not in the paper): ``recurrent=False`` (one layer only) runs the
same layer-1 cell from a zero state at every micro-step and averages the steps of
each second instead of keeping the last one. It has the parameter count and
output channels of the 1-layer neck but no memory (from a zero state the
hidden-state kernels, the forget gate and the i/f peepholes get no gradient: about
half of the cell's weights are inert). Its ``'hstlstm'`` features cannot tell the
order of the (possibly resampled) steps inside a second; the ``'appearance'``
slice and the residual backbone feature still can. The
benchmark-v2 HST-LSTM block uses it to separate "extra channels" from
"recurrence" (issue 20).

The pooling weights of the last forward pass are kept in
:attr:`HSTLSTMNeck.pool_weights` (detached) for visualisation (paper Fig. 8).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_model
from ..recurrent import PeepholeConvLSTMCell
from ._projection import ResidualProjection, check_output_mode, replace_in_tuple

FEATURES = ('appearance', 'backbone', 'hstlstm')
#: ``'center'`` is the older name of ``'keyframe'`` (the same step)
OUTPUT_STEPS = ('keyframe', 'center', 'last', 'all')


class AttentionPooling(nn.Module):
    """One pooling module (``g_c`` or ``g_h``): softmax-weighted sum of candidates.

    Args:
        in_channels: channels of the context features (I3D).
        hidden_channels: channels of the pooled states (= context conv filters).
        kernel_size: kernel of the context conv.
        scale_logits: divide ``<C^, s>`` by ``sqrt(hidden_channels)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3,
                 scale_logits: bool = True):
        super().__init__()
        self.context_conv = nn.Conv2d(in_channels, hidden_channels, kernel_size,
                                      padding=kernel_size // 2)
        self.scale = 1.0 / math.sqrt(hidden_channels) if scale_logits else 1.0

    def forward(self, context_feat: torch.Tensor, candidates: torch.Tensor,
                valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            context_feat: ``(N, C_in, H, W)`` I3D features of this step's span.
            candidates: ``(N, K, hidden, H, W)`` states to pool.
            valid: optional bool ``(K,)``; False candidates get weight 0.

        Returns:
            tuple: pooled ``(N, hidden, H, W)`` and weights ``(N, K, H, W)``
            (summing to 1 over ``K`` at every location).
        """
        ctx = self.context_conv(context_feat)                         # (N, hid, H, W)
        logits = (candidates * ctx[:, None]).sum(2) * self.scale      # (N, K, H, W)
        if valid is not None:
            logits = logits.masked_fill(~valid[None, :, None, None], float('-inf'))
        weights = torch.softmax(logits, dim=1)
        pooled = (weights[:, :, None] * candidates).sum(1)
        return pooled, weights


@register_model()
class HSTLSTMNeck(BaseModule):
    """Hierarchical spatio-temporal LSTM neck (see the module docstring).

    Args:
        in_channels: channels of the backbone (I3D) feature.
        hidden_channels: LSTM filters per layer and context conv filters (64).
        micro_steps: input steps per second (paper: 3, I3D every 1/3 s).
        num_layers: LSTM layers (1 = layer 1 only, the paper's Table 4 ablation).
        pool_sizes: lower-layer steps pooled per step, one entry per layer >= 2
            (default ``micro_steps`` for layer 2, then 1).
        kernel_size: input and state kernels of the LSTM cells.
        context_kernel_size: kernel of the context convs.
        peephole_size: ``None`` (per-channel peepholes) or ``(H, W)``.
        reset_hidden_each_second: layer 1 starts every second with ``h = 0``.
        recurrent: ``False`` = the no-recurrence control (see "Control"): every
            micro-step from a zero state, steps of a second averaged; needs
            ``num_layers=1``.
        scale_pool_logits: see :class:`AttentionPooling`.
        output_step: ``'keyframe'`` (default: the top-layer step whose time
            window contains the keyframe, the clip centre; see "Paper gaps"),
            ``'center'`` (the same), ``'last'`` (the last step) or ``'all'``.
        output_features: which of ``('appearance', 'backbone', 'hstlstm')`` to
            concatenate (kept in that order).
        output_mode: ``'project'`` (default: backbone feature + zero-initialised
            projection of the concatenation, the backbone's channels, T, H, W; a
            tuple input gives the tuple with ``feature_index`` replaced) or
            ``'concat'`` (the concatenation, ``out_channels`` channels).
        feature_index: which element of a tuple input is the I3D feature.
        appearance_index: which element of a tuple input is a keyframe 2D
            feature ``(N, C_a, H', W')`` or ``(N, C_a, T', H', W')``; None = the
            backbone feature's centre time slice.
        appearance_channels: channels of that 2D feature (needed for
            :attr:`out_channels` when ``appearance_index`` is set).
        input_steps: if an int, the backbone feature is first resampled in time
            to this many steps (adaptive average pooling), e.g. ``seconds *
            micro_steps`` = 15 for a 5-s clip whose I3D ``Mixed_4f`` feature has
            ``ceil(clip_len / 4)`` steps. ``'auto'`` (default): resampled only
            when ``T`` is not a valid length, to the nearest valid one. ``None``:
            never (a wrong ``T`` is an error).
        init_cfg: mmengine init config.

    Shapes:
        input ``(N, in_channels, T, H, W)`` (``T`` divisible by ``micro_steps``
        and by ``prod(pool_sizes)`` unless resampled, see ``input_steps``);
        ``'project'``: output of the input's shape; ``'concat'``: output ``(N,
        out_channels, T_out, H, W)`` with ``T_out = 1`` (``'keyframe'``,
        ``'center'``, ``'last'``) or the number of top-layer steps (``'all'``).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 64,
                 micro_steps: int = 3, num_layers: int = 2,
                 pool_sizes: Sequence[int] | None = None, kernel_size: int = 3,
                 context_kernel_size: int = 3,
                 peephole_size: Sequence[int] | None = None,
                 reset_hidden_each_second: bool = True, scale_pool_logits: bool = True,
                 output_step: str = 'keyframe', recurrent: bool = True,
                 output_features: Sequence[str] = ('appearance', 'backbone', 'hstlstm'),
                 feature_index: int = 0, appearance_index: int | None = None,
                 appearance_channels: int | None = None,
                 input_steps: int | str | None = 'auto', output_mode: str = 'project',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.output_mode = check_output_mode(output_mode)
        if not (input_steps is None or input_steps == 'auto'
                or (isinstance(input_steps, int) and input_steps > 0)):
            raise ValueError("input_steps must be a positive int, 'auto' or None, got "
                             f'{input_steps!r}')
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        if micro_steps < 1:
            raise ValueError(f'micro_steps must be >= 1, got {micro_steps}')
        if not recurrent and num_layers != 1:
            raise ValueError(f'recurrent=False (the no-recurrence control) has one '
                             f'layer, got num_layers={num_layers}: set num_layers=1')
        self.recurrent = bool(recurrent)
        if pool_sizes is None:
            pool_sizes = ([micro_steps] + [1] * (num_layers - 2)) if num_layers > 1 else []
        pool_sizes = [int(p) for p in pool_sizes]
        if len(pool_sizes) != num_layers - 1 or any(p < 1 for p in pool_sizes):
            raise ValueError(f'pool_sizes needs {num_layers - 1} positive entries '
                             f'(one per layer >= 2), got {pool_sizes}')
        if output_step not in OUTPUT_STEPS:
            raise ValueError(f'output_step must be one of {OUTPUT_STEPS}, got '
                             f'{output_step!r}')
        unknown = [f for f in output_features if f not in FEATURES]
        if unknown or not output_features:
            raise ValueError(f'output_features must be a non-empty subset of '
                             f'{FEATURES}, got {tuple(output_features)}')
        if appearance_index is not None and 'appearance' in output_features \
                and appearance_channels is None:
            raise ValueError('appearance_channels is needed with appearance_index')
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.micro_steps, self.num_layers = micro_steps, num_layers
        self.pool_sizes = pool_sizes
        self.reset_hidden_each_second = reset_hidden_each_second
        self.output_step = output_step
        self.output_features = tuple(f for f in FEATURES if f in output_features)
        self.feature_index, self.appearance_index = feature_index, appearance_index
        self.input_steps = input_steps
        self.appearance_channels = (appearance_channels if appearance_index is not None
                                    else in_channels)
        self.cells = nn.ModuleList()
        self.cell_pools = nn.ModuleList()
        self.hidden_pools = nn.ModuleList()
        for layer in range(num_layers):
            self.cells.append(PeepholeConvLSTMCell(
                in_channels if layer == 0 else hidden_channels, hidden_channels,
                kernel_size, peephole_size=peephole_size))
            if layer > 0:
                self.cell_pools.append(AttentionPooling(
                    in_channels, hidden_channels, context_kernel_size, scale_pool_logits))
                self.hidden_pools.append(AttentionPooling(
                    in_channels, hidden_channels, context_kernel_size, scale_pool_logits))
        #: per higher layer: ``dict(cell=(N, M, k+1, H, W), hidden=(N, M, k, H, W))``
        #: from the last forward (index 0 of ``cell`` = the layer's own previous cell)
        self.pool_weights: list[dict[str, torch.Tensor]] = []
        if self.output_mode == 'project':
            self.out_proj = ResidualProjection(self.concat_channels, in_channels)

    @property
    def concat_channels(self) -> int:
        """Channels of the concatenated ``output_features``."""
        sizes = dict(appearance=self.appearance_channels, backbone=self.in_channels,
                     hstlstm=self.hidden_channels)
        return sum(sizes[f] for f in self.output_features)

    @property
    def out_channels(self) -> int:
        """Channels of the output tensor: ``in_channels`` (``'project'``; SlowFast:
        of the replaced pathway) or the concatenation (``'concat'``: set
        ``BBoxHeadAVA.in_channels`` to this)."""
        return self.in_channels if self.output_mode == 'project' else self.concat_channels

    @property
    def valid_step_multiple(self) -> int:
        """``T`` must be a multiple of this."""
        return math.lcm(self.micro_steps, math.prod(self.pool_sizes))

    def resample_steps(self, t: int) -> int:
        """The number of steps a ``T = t`` feature is resampled to."""
        if isinstance(self.input_steps, int):
            return self.input_steps
        need = self.valid_step_multiple
        if self.input_steps is None or t % need == 0:
            return t
        return max(need, int(math.floor(t / need + 0.5)) * need)

    # ------------------------------------------------------------------ layers
    def _layer1(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Peephole ConvLSTM per second, cell state carried between seconds.

        Returns:
            tuple: hidden and cell states ``(N, hidden, T, H, W)`` each.
        """
        cell = self.cells[0]
        hs, cs = [], []
        state = None
        for t in range(feat.shape[2]):
            if not self.recurrent:
                state = None                                          # no memory
            elif t % self.micro_steps == 0 and state is not None \
                    and self.reset_hidden_each_second:
                state = (torch.zeros_like(state[0]), state[1])
            h, state = cell(feat[:, :, t], state)
            hs.append(h)
            cs.append(state[1])
        return torch.stack(hs, 2), torch.stack(cs, 2)

    def _higher_layer(self, index: int, feat: torch.Tensor, lower_h: torch.Tensor,
                      lower_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``index + 1`` (0-based ``index >= 1``) over pooled lower states."""
        k = self.pool_sizes[index - 1]
        n, _, t_low, hgt, wid = lower_h.shape
        steps = t_low // k
        span = feat.shape[2] // steps
        # I3D context of each step: mean over the input steps it covers
        ctx = feat.reshape(n, feat.shape[1], steps, span, hgt, wid).mean(3)
        cell = self.cells[index]
        g_c, g_h = self.cell_pools[index - 1], self.hidden_pools[index - 1]
        state = None
        hs, cs, w_c, w_h = [], [], [], []
        for m in range(steps):
            low_h = lower_h[:, :, m * k:(m + 1) * k].transpose(1, 2)   # (N, k, hid, H, W)
            low_c = lower_c[:, :, m * k:(m + 1) * k].transpose(1, 2)
            own_c = state[1] if state is not None else torch.zeros_like(low_c[:, 0])
            valid = torch.ones(k + 1, dtype=torch.bool, device=feat.device)
            valid[0] = state is not None
            pc, sc = g_c(ctx[:, :, m], torch.cat([own_c[:, None], low_c], 1), valid)
            ph, sh = g_h(ctx[:, :, m], low_h)
            h, state = cell(ph, state, pooled_cell=pc)
            hs.append(h)
            cs.append(state[1])
            w_c.append(sc)
            w_h.append(sh)
        self.pool_weights.append(dict(cell=torch.stack(w_c, 1).detach(),
                                      hidden=torch.stack(w_h, 1).detach()))
        return torch.stack(hs, 2), torch.stack(cs, 2)

    def hierarchy(self, feat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """All layers' states.

        Args:
            feat: ``(N, in_channels, T, H, W)``.

        Returns:
            list: per layer ``(h, c)``, each ``(N, hidden, T_l, H, W)`` with
            ``T_1 = T`` and ``T_l = T_{l-1} / pool_sizes[l-2]``.
        """
        if feat.dim() != 5 or feat.shape[1] != self.in_channels:
            hint = (f': set model=dict(neck=dict(in_channels={feat.shape[1]}))'
                    if feat.dim() == 5 else '')
            raise ValueError(f'HSTLSTMNeck expects (N, {self.in_channels}, T, H, W), '
                             f'got {tuple(feat.shape)}{hint}')
        t = feat.shape[2]
        need = math.lcm(self.micro_steps, math.prod(self.pool_sizes))
        if t % need != 0:
            raise ValueError(f'the clip feature has T={t} steps; HSTLSTMNeck needs a '
                             f'multiple of {need} (micro_steps={self.micro_steps}, '
                             f'pool_sizes={self.pool_sizes}): sample clip_len = '
                             f'seconds * micro_steps frames per backbone step, or '
                             f"resample it: model=dict(neck=dict(input_steps='auto'))")
        self.pool_weights = []
        states = [self._layer1(feat)]
        for index in range(1, self.num_layers):
            states.append(self._higher_layer(index, feat, *states[-1]))
        return states

    # ------------------------------------------------------------------ output
    def _top_steps(self, states) -> torch.Tensor:
        h = states[-1][0]
        if self.num_layers == 1 and not self.recurrent:  # control: mean per second
            n, ch, t, hgt, wid = h.shape
            return h.reshape(n, ch, t // self.micro_steps, self.micro_steps,
                             hgt, wid).mean(3)
        if self.num_layers == 1:  # one output per second: the last micro-step
            h = h[:, :, self.micro_steps - 1::self.micro_steps]
        return h

    @staticmethod
    def keyframe_step(num_steps: int) -> int:
        """Index of the step (of ``num_steps`` equal ones over the clip) whose time
        window contains the keyframe, the clip centre in MMAction2's AVA sampling."""
        return num_steps // 2

    def _select(self, seq: torch.Tensor) -> torch.Tensor:
        m = seq.shape[2]
        if self.output_step == 'last':
            return seq[:, :, m - 1:]
        if self.output_step in ('keyframe', 'center'):
            k = self.keyframe_step(m)
            return seq[:, :, k:k + 1]
        return seq

    def _backbone_over_steps(self, feat: torch.Tensor, steps: int) -> torch.Tensor:
        n, ch, t, hgt, wid = feat.shape
        per = feat.reshape(n, ch, steps, t // steps, hgt, wid).mean(3)
        return self._select(per)

    def _appearance(self, inputs, feat: torch.Tensor, t_out: int) -> torch.Tensor:
        if self.appearance_index is None:
            app = feat[:, :, feat.shape[2] // 2]                      # keyframe slice
        else:
            app = inputs[self.appearance_index]
            if app.dim() == 5:
                app = app[:, :, app.shape[2] // 2]
            if app.dim() != 4 or app.shape[1] != self.appearance_channels:
                raise ValueError(f'the appearance feature must be (N, '
                                 f'{self.appearance_channels}, [T,] H, W), got '
                                 f'{tuple(inputs[self.appearance_index].shape)}')
            if app.shape[2:] != feat.shape[3:]:
                app = F.interpolate(app, size=feat.shape[3:], mode='bilinear',
                                    align_corners=False)
        return app[:, :, None].expand(-1, -1, t_out, -1, -1)

    def forward(self, inputs) -> torch.Tensor:
        """
        Args:
            inputs: the backbone output, ``(N, C, T, H, W)`` or a tuple of them
                (``feature_index`` / ``appearance_index`` pick the elements).

        Returns:
            torch.Tensor: ``(N, out_channels, T_out, H, W)``.
        """
        is_seq = isinstance(inputs, (tuple, list))
        if not is_seq and self.appearance_index is not None:
            raise ValueError('appearance_index is set but the backbone returned one '
                             'tensor, not a tuple')
        feat = base = inputs[self.feature_index] if is_seq else inputs
        if feat.dim() == 5 and feat.shape[1] == self.in_channels:
            steps = self.resample_steps(feat.shape[2])
            if steps != feat.shape[2]:
                feat = F.adaptive_avg_pool3d(feat, (steps,) + tuple(feat.shape[3:]))
        states = self.hierarchy(feat)
        top = self._top_steps(states)                                 # (N, hid, M, H, W)
        hst = self._select(top)
        outs = []
        for name in self.output_features:
            if name == 'appearance':
                outs.append(self._appearance(inputs, feat, hst.shape[2]))
            elif name == 'backbone':
                outs.append(self._backbone_over_steps(feat, top.shape[2]))
            else:
                outs.append(hst)
        cat = torch.cat(outs, 1)
        if self.output_mode == 'concat':
            return cat
        out = self.out_proj(base, cat)
        if not is_seq:
            return out
        drop = () if self.appearance_index is None else (self.appearance_index,)
        return replace_in_tuple(inputs, self.feature_index, out, drop)


__all__ = ['HSTLSTMNeck', 'AttentionPooling']
