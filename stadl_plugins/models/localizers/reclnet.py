"""RecLNet: recurrent scoring of person tracks (Chéron, Osokin, Laptev, Schmid 2018).

Input: per-frame features pooled from the boxes of a person track, one tensor per
stream (``'rgb'``, ``'flow'``), ``(B, T, D_stream)``. Output: a ``C + 1``-way
softmax (index 0 = background, ``1 + c`` = action ``c``) at every time step, which
:func:`stadl_plugins.localization.temporal.localize_tracks` turns into tubes (median
filter over 1 s -- the paper's 25 frames at 25 fps -- converted to frames with the
videos' ``fps`` from the track-feature files or the config; the configs'
``localization`` dict and ``fps``, read by ``tools/reclnet/localize.py``).

Per stream (:class:`RecLNetStream`):

* FC "normalisation" ``D -> fc_channels`` (paper: 4096 -> 1024) + ReLU;
* two single-layer GRUs with memory ``M`` (paper: 256), the second reading the
  first one's outputs; **both** layers' outputs are concatenated (``2M``) at every
  step. ``nn.GRU(num_layers=2)`` cannot be used for this: it returns the output
  sequence of the top layer only (the lower layer's per-step outputs are never
  exposed, ``h_n`` holds only the *last* step of each layer), so the ``2M``
  per-frame concatenation needs two separate single-layer GRUs;
* a linear classifier ``2M -> C + 1`` (single-stream nets).

Cells (``cell``): ``'gru'`` (RecLNet), ``'lstm'`` (the paper's LSTM baseline, same
stacking), ``'fc'`` (no recurrence: ``Linear(fc, a) + ReLU + Linear(a, 2M) + ReLU``
with the width ``a`` chosen so that the parameter count matches the GRU pair).

Two-stream fusion (``fusion``), over streams that are trained separately and
then frozen (``freeze_streams=True``, loaded with ``stream_checkpoints``):

* ``'average'``: mean of the two streams' softmaxes (nothing to train);
* ``'gating'``: per-class weights on the stream logits,
  ``logit_c = w_rgb,c * l_rgb,c + w_flow,c * l_flow,c + b_c`` (weights start at 0.5);
* ``'fusion_layer'``: a linear layer on the concatenated memories of both
  streams (``4M -> C + 1``).

Loss: per-frame cross-entropy (NLL of the fused log-probabilities), frames
labelled ``-1`` (padding) ignored. Frame labels come from the track boxes:
class ``c`` if the box overlaps a GT box of class ``c`` with IoU > 0.3, else
background (:func:`stadl_plugins.datasets.track_windows.frame_labels_from_gt`).

Paper gaps:
    * The FC normalisation's nonlinearity is not stated: ReLU.
    * GRU form: PyTorch's ``nn.GRU`` applies the reset gate after ``U_h h``
      (``tanh(W_h x + r * (U_h h))``), the paper's equation before it
      (``tanh(W_h x + U_h (r * h))``); we use ``nn.GRU``.
    * The ``'fc'`` baseline's layout is not given ("no temporal connections"):
      two ReLU layers sized to the GRU pair's parameter count.
    * Gating-layer form (per-class weight per stream plus bias) and its init.
    * Initial hidden state: zeros at the start of every window (BPTT over 20
      steps as in the paper) and of every full track at test time.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel

from ...registry import register_model
from ..track_heads.reclnet_stream import RecLNetStream

__all__ = ['RecLNetStream', 'RecLNet']  # RecLNetStream re-exported for users of both


@register_model()
class RecLNet(BaseModel):
    """RecLNet track head (single stream or two-stream fusion); see the module docstring.

    Args:
        num_classes: actions ``C``.
        in_channels: ``{stream: D}`` (e.g. ``dict(rgb=4096, flow=4096)``); the
            order of the keys is the stream order.
        fc_channels, memory, cell, dropout: :class:`RecLNetStream` options.
        fusion: ``None`` (one stream), ``'average'``, ``'gating'`` or
            ``'fusion_layer'`` (two streams).
        freeze_streams: freeze the per-stream networks (fusion training on top of
            separately trained streams, as in the paper).
        stream_checkpoints: ``{stream: path}`` of single-stream RecLNet
            checkpoints whose ``streams.<stream>.*`` weights initialise each stream.
        data_preprocessor: mmengine data preprocessor config (default: only moves
            tensors to the device).

    Batch format (from ``TrackWindowDataset`` with ``default_collate``):
    ``inputs = {stream: (B, T, D)}``, ``labels`` ``(B, T)`` long in ``[-1, C]``.
    """

    def __init__(self, num_classes: int, in_channels: dict, fc_channels: int = 1024,
                 memory: int = 256, cell: str = 'gru', dropout: float = 0.0,
                 fusion: str | None = None, freeze_streams: bool = False,
                 stream_checkpoints: dict | None = None, data_preprocessor=None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(in_channels, dict) or not in_channels:
            raise ValueError(f'in_channels must be a non-empty {{stream: D}} dict, got '
                             f'{in_channels!r}')
        self.stream_names = list(in_channels)
        n = len(self.stream_names)
        if fusion is None and n != 1:
            raise ValueError(f'{n} streams need a fusion (average, gating, fusion_layer)')
        if fusion is not None and (fusion not in ('average', 'gating', 'fusion_layer')
                                   or n != 2):
            raise ValueError("fusion must be 'average', 'gating' or 'fusion_layer' with "
                             f'two streams; got fusion={fusion!r} with streams '
                             f'{self.stream_names}')
        self.num_classes, self.fusion = num_classes, fusion
        self.streams = nn.ModuleDict({
            s: RecLNetStream(d, num_classes, fc_channels, memory, cell, dropout)
            for s, d in in_channels.items()})
        if fusion == 'gating':
            self.gate_weight = nn.Parameter(torch.full((n, num_classes + 1), 0.5))
            self.gate_bias = nn.Parameter(torch.zeros(num_classes + 1))
        elif fusion == 'fusion_layer':
            self.fusion_fc = nn.Linear(n * 2 * memory, num_classes + 1)
        self.freeze_streams = freeze_streams
        if stream_checkpoints:
            self.load_streams(stream_checkpoints)
        if freeze_streams:
            for p in self.streams.parameters():
                p.requires_grad_(False)

    def load_streams(self, checkpoints: dict) -> dict:
        """Copy ``streams.<name>.*`` weights from single-stream checkpoints
        (``{stream: path}``), strictly and safely
        (:func:`stadl_plugins.safe_load.load_prefixed_weights`): every tensor of
        the stream must be in the file with its shape. Returns ``{stream: info}``."""
        from ...safe_load import load_prefixed_weights
        info = {}
        for name, path in checkpoints.items():
            if name not in self.streams:
                raise KeyError(f'stream {name!r} not in {self.stream_names}')
            info[name] = load_prefixed_weights(
                self.streams[name], path, f'streams.{name}.',
                fix=f'stream_checkpoints[{name!r}] must be a checkpoint of a RecLNet '
                    f'with a {name!r} stream of the same size (a single-stream run)')
        return info

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_streams:
            self.streams.eval()  # frozen streams: no dropout
        return self

    def log_probs(self, inputs: dict) -> torch.Tensor:
        """Fused per-frame log-probabilities ``(B, T, C+1)``."""
        missing = [s for s in self.stream_names if s not in inputs]
        if missing:
            raise KeyError(f'inputs lack streams {missing}; got {sorted(inputs)}')
        outs = [self.streams[s](inputs[s].float()) for s in self.stream_names]
        if self.fusion is None:
            return F.log_softmax(outs[0][0], -1)
        if self.fusion == 'average':
            probs = torch.stack([F.softmax(lg, -1) for lg, _ in outs]).mean(0)
            return torch.log(probs.clamp_min(1e-12))
        if self.fusion == 'gating':
            logits = sum(self.gate_weight[k] * lg for k, (lg, _) in enumerate(outs))
            return F.log_softmax(logits + self.gate_bias, -1)
        mem = torch.cat([m for _, m in outs], -1)  # (B, T, 4M)
        return F.log_softmax(self.fusion_fc(mem), -1)

    def forward(self, inputs: dict, labels: torch.Tensor | None = None,
                mode: str = 'tensor', **kwargs):
        """Args:
            inputs: ``{stream: (B, T, D)}``.
            labels: ``(B, T)`` in ``[-1, C]`` (-1 ignored); needed for ``'loss'``.
            mode: ``'tensor'`` -> probabilities ``(B, T, C+1)``; ``'loss'`` ->
                ``{'loss_cls'}``; ``'predict'`` -> list of ``B`` dicts
                ``pred_scores (T, C+1)``, ``gt_labels (T,)``.
        """
        logp = self.log_probs(inputs)
        if mode == 'tensor':
            return logp.exp()
        if mode == 'loss':
            if labels is None:
                raise ValueError("mode='loss' needs labels (B, T)")
            return dict(loss_cls=F.nll_loss(logp.flatten(0, 1), labels.flatten().long(),
                                            ignore_index=-1))
        if mode == 'predict':
            probs = logp.exp().detach().cpu()
            gts = labels.cpu() if labels is not None else [None] * len(probs)
            return [dict(pred_scores=p, gt_labels=g) for p, g in zip(probs, gts)]
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")

    @torch.no_grad()
    def score_tracks(self, features: dict, lengths, batch_size: int = 256) -> torch.Tensor:
        """Score whole tracks (no windowing, zero initial state).

        Args:
            features: ``{stream: (N, T, D)}`` arrays or tensors.
            lengths: ``(N,)`` valid frames (rows past are padding; the recurrence
                is causal, so padding does not change the valid frames).

        Returns:
            ``(N, T, C+1)`` probabilities.
        """
        self.eval()
        dev = next(self.parameters()).device
        feats = {s: torch.as_tensor(features[s]) for s in self.stream_names}
        n = len(next(iter(feats.values())))
        out = [self({s: f[i:i + batch_size].to(dev) for s, f in feats.items()}).cpu()
               for i in range(0, n, batch_size)]
        return torch.cat(out) if out else torch.zeros(0)
