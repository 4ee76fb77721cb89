"""One RecLNet stream (Chéron et al. 2018): FC normalisation, two stacked
single-layer recurrent cells whose per-step outputs are concatenated, a ``C + 1``
classifier. The whole model (streams, fusion, loss) is
:class:`stadl_plugins.models.localizers.reclnet.RecLNet`; its module docstring maps
the paper and lists the gaps we filled.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['RecLNetStream']


def _gru_pair_params(fc_channels: int, memory: int) -> int:
    gru = lambda i, h: 3 * (i * h + h * h + 2 * h)  # noqa: E731
    return gru(fc_channels, memory) + gru(memory, memory)


class RecLNetStream(nn.Module):
    """One stream: FC normalisation -> two stacked single-layer recurrent cells whose
    per-step outputs are concatenated -> ``C + 1`` classifier.

    Args:
        in_channels: feature size ``D``.
        num_classes: actions ``C`` (the classifier has ``C + 1`` outputs).
        fc_channels: FC normalisation width (paper: 1024).
        memory: ``M`` (paper: 256).
        cell: ``'gru'``, ``'lstm'`` or ``'fc'``.
        dropout: dropout on the ``2M`` memory before the classifier.
    """

    def __init__(self, in_channels: int, num_classes: int, fc_channels: int = 1024,
                 memory: int = 256, cell: str = 'gru', dropout: float = 0.0):
        super().__init__()
        if cell not in ('gru', 'lstm', 'fc'):
            raise ValueError(f"cell must be 'gru', 'lstm' or 'fc', got {cell!r}")
        self.cell, self.memory = cell, memory
        self.fc_norm = nn.Linear(in_channels, fc_channels)
        if cell == 'fc':
            width = round((_gru_pair_params(fc_channels, memory) - 2 * memory)
                          / (fc_channels + 1 + 2 * memory))
            self.layer1 = nn.Linear(fc_channels, width)
            self.layer2 = nn.Linear(width, 2 * memory)
        else:
            rnn = nn.GRU if cell == 'gru' else nn.LSTM
            self.layer1 = rnn(fc_channels, memory, batch_first=True)
            self.layer2 = rnn(memory, memory, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * memory, num_classes + 1)

    def memory_features(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, T, D)``. Returns: ``(B, T, 2M)`` per-step memory."""
        if x.dim() != 3:
            raise ValueError(f'stream input must be (B, T, D), got shape {tuple(x.shape)}')
        x = F.relu(self.fc_norm(x))  # (B, T, fc)
        if self.cell == 'fc':
            return F.relu(self.layer2(F.relu(self.layer1(x))))  # (B, T, 2M)
        h1, _ = self.layer1(x)  # (B, T, M) every step of layer 1
        h2, _ = self.layer2(h1)  # (B, T, M)
        return torch.cat([h1, h2], dim=-1)  # (B, T, 2M)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(logits (B, T, C+1), memory (B, T, 2M))``."""
        mem = self.memory_features(x)
        return self.classifier(self.dropout(mem)), mem
