"""RecLNet temporal localization: vectorized vs naive per-track loop.

Synthetic scored tracks (tracks x frames x classes, each track with two planted
actions over low noise), 100 tracks per video. Times ``localize_tracks`` (threshold
and Viterbi) against ``localize_tracks_naive`` on the same subset, then the
vectorized version alone on the full size (paper scale: 10k tracks x 1000 frames x
24 classes; ``--quick``: 1000 tracks).

Run: ``python benchmarks/bench_reclnet.py [--quick]`` or
``python benchmarks/run.py --only temporal_localization --quick``.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Section, benchmark, machine_line  # noqa: E402


def make_tracks(n, t, c, seed=0, tracks_per_video=100):
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, t, c), dtype=np.float32) * 0.12)
    for k in range(2):
        b = rng.integers(0, t - 60, n)
        ln = rng.integers(30, 60, n)
        cls = rng.integers(0, c, n)
        for i in range(n):
            scores[i, b[i]:b[i] + ln[i], cls[i]] += 0.5
    boxes = np.empty((n, t, 4), np.float32)
    xy = rng.uniform(0, 200, (n, 1, 2)) + np.cumsum(rng.normal(0, 0.5, (n, t, 2)), 1)
    boxes[..., :2] = xy
    boxes[..., 2:] = xy + rng.uniform(30, 80, (n, 1, 2))
    lengths = rng.integers(t // 2, t + 1, n)
    videos = [f'video{i // tracks_per_video}' for i in range(n)]
    return scores, boxes, lengths, np.ones(n, np.int64), videos


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


@benchmark('temporal_localization')
def temporal_localization(quick: bool, out_dir: str) -> Section:
    from stadl_plugins.localization.temporal import localize_tracks, localize_tracks_naive
    t, c = 1000, 24
    n_full = 1000 if quick else 10000
    n_sub = 20 if quick else 100
    rows = []
    sub = make_tracks(n_sub, t, c, seed=1)
    for method in ('threshold', 'viterbi'):
        t_naive, ref = _time(lambda: localize_tracks_naive(*sub, method=method))
        t_vec, got = _time(lambda: localize_tracks(*sub, method=method))
        same = sorted(len(v) for v in ref.values()) == sorted(len(v) for v in got.values())
        rows.append([method, f'{n_sub}x{t}x{c}', round(t_naive, 3), round(t_vec, 3),
                     round(t_naive / t_vec, 1), 'yes' if same else 'NO'])
    full = make_tracks(n_full, t, c, seed=2)
    for method in ('threshold', 'viterbi'):
        t_vec, got = _time(lambda: localize_tracks(*full, method=method))
        n_tubes = sum(len(v) for v in got.values())
        rows.append([method, f'{n_full}x{t}x{c}', '-', round(t_vec, 2), '-',
                     f'{n_tubes} tubes'])
    return Section(
        title='RecLNet temporal localization: vectorized vs per-track loop',
        description=('`localize_tracks` (median 25 + theta 0.1 or 2-state Viterbi, top-40 '
                     'scores, ST-NMS 0.2 per video and class) vs `localize_tracks_naive` '
                     '(loop over tracks and classes, NMS with `tube_iou`) on random tracks '
                     'with two planted actions each, 100 tracks per video; single run '
                     f'wall time in seconds. {machine_line()}.'),
        header=['method', 'tracks x frames x classes', 'naive s', 'vectorized s',
                'speed-up', 'same tube counts'],
        rows=rows)


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    print(temporal_localization(quick, '.').to_markdown())
