"""Forward time and training-step memory of the recurrent necks (HST-LSTM,
ConvLSTM, ConvALSTM, VideoLSTM) in the tiny synthetic detector, vs the stock
detector on the same clip.

Run: ``python benchmarks/run.py --only recurrent_overhead [--quick]``.
"""
from __future__ import annotations

import os
import sys

import torch  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Section, benchmark, machine_line  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK9 = f'{REPO}/configs/synthetic/slowonly_r18-tiny_9x3x1-15e_synthetic-rgb.py'
HST = f'{REPO}/configs/synthetic/slowonly-hstlstm_r18-tiny_9x3x1-15e_synthetic-rgb.py'
VL = f'{REPO}/configs/synthetic/slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py'


def _variants():
    """(name, config, neck overrides, clip frames): the stock detector on the same
    9-frame clip as HST-LSTM and the 8-frame clip of the VideoLSTM variants."""
    return [
        ('stock (no neck), 9 frames', STOCK9, {}, 9),
        ('HST-LSTM 1 layer', HST, dict(num_layers=1), None),
        ('HST-LSTM 2 layers', HST, {}, None),
        ('stock (no neck), 8 frames', STOCK9, {}, 8),
        ('ConvLSTM', VL, dict(attention='none'), None),
        ('ConvALSTM (appearance attention)', VL, dict(attention='appearance'), None),
        ('VideoLSTM (motion attention)', VL, {}, None),
    ]


@benchmark('recurrent_overhead')
def recurrent_overhead(quick: bool, out_dir: str) -> Section:
    from detector_cost import HEADER, cost_rows
    variants = _variants()
    rows = cost_rows(variants[:3], quick) + cost_rows(variants[3:], quick)
    return Section(
        title='Recurrent necks: forward time and training memory (tiny synthetic detector, CPU)',
        description=('`FastRCNN.predict` of the tiny SlowOnly-R18 synthetic detector '
                     '(120x160 clip, 2 proposals) with each neck, median wall time over '
                     'round-robin repeats; ratios to the stock detector on the same clip '
                     '(9 frames for HST-LSTM, 8 for the VideoLSTM family). Peak memory: '
                     'growth of the peak resident size during one training step (batch '
                     '2, loss + backward, one thread) in a fresh process. '
                     f'{machine_line()}.'),
        header=HEADER, rows=rows)


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    print(recurrent_overhead(quick, '.').to_markdown())
