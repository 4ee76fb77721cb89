"""Charts with matplotlib (Agg backend): per-track score curves, per-class AP bars,
precision-recall curves, training curves from mmengine logs.

Every function writes a PNG of exactly ``size = (width, height)`` pixels and
returns its path.
"""
from __future__ import annotations

import json
import os

import numpy as np


def _figure(size, dpi=100):
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    w, h = size
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    return fig, plt


def _save(fig, plt, path, dpi=100):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)  # no bbox_inches: keep the exact pixel size
    plt.close(fig)
    return path


def true_segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges where a boolean 1-D mask is True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def plot_score_curves(path: str, scores, class_names=None, threshold=None,
                      times=None, title: str = '', size=(800, 400),
                      max_classes: int = 10) -> str:
    """Per-frame (or per-keyframe) class scores of one track, RecLNet style.

    Args:
        scores: ``(T, C)`` scores.
        class_names: ``C`` names (default ``class i``).
        threshold: draw this horizontal line and shade, per class, the segments
            where its score is >= threshold (the temporal extent of the action).
        times: ``(T,)`` x values (default: ``0..T-1``, "frame").
        max_classes: plot only the classes with the highest peak score.
    """
    scores = np.asarray(scores, np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2:
        raise ValueError(f'scores must be (T, C), got {scores.shape}')
    t_len, n_cls = scores.shape
    names = list(class_names) if class_names is not None else \
        [f'class {i}' for i in range(n_cls)]
    if len(names) != n_cls:
        raise ValueError(f'{n_cls} score columns but {len(names)} class names')
    x = np.arange(t_len) if times is None else np.asarray(times, np.float64)
    shown = np.argsort(-scores.max(axis=0), kind='stable')[:max_classes]
    fig, plt = _figure(size)
    ax = fig.add_subplot(111)
    colors = plt.get_cmap('tab10')
    for k, c in enumerate(shown):
        color = colors(k % 10)
        # markers: one keyframe (or a few) would draw no visible line
        ax.plot(x, scores[:, c], color=color, label=names[c], lw=1.5,
                marker='o' if t_len < 20 else None, ms=4)
        if threshold is not None:
            for s, e in true_segments(scores[:, c] >= threshold):
                x0 = x[s] - (x[1] - x[0]) / 2 if t_len > 1 else x[s] - 0.5
                x1 = x[e - 1] + (x[1] - x[0]) / 2 if t_len > 1 else x[s] + 0.5
                ax.axvspan(x0, x1, color=color, alpha=0.15, lw=0)
    if t_len == 1:
        ax.set_xlim(x[0] - 1, x[0] + 1)
    if threshold is not None:
        ax.axhline(threshold, color='k', ls='--', lw=1, label=f'threshold {threshold:g}')
    ax.set_xlabel('frame' if times is None else 'time')
    ax.set_ylabel('score')
    ax.set_title(title or 'action scores along the track')
    ax.legend(fontsize=7, loc='upper right', ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_ap_bars(path: str, ap: dict, title: str = '', size=(800, 400),
                 sort: bool = True) -> str:
    """Per-class AP as horizontal bars, with the mean (NaN classes skipped).

    Args:
        ap: ``{class name: AP}`` (in [0, 1] or percent; the axis follows).
    """
    if not ap:
        raise ValueError('ap is empty: nothing to plot')
    items = [(str(k), float(v)) for k, v in ap.items()]
    if sort:
        items.sort(key=lambda kv: (np.nan_to_num(kv[1], nan=-1)))
    names = [k for k, _ in items]
    vals = np.array([v for _, v in items])
    finite = vals[np.isfinite(vals)]
    top = 100.0 if finite.size and finite.max() > 1.0 else 1.0
    fig, plt = _figure(size)
    ax = fig.add_subplot(111)
    ax.barh(np.arange(len(vals)), np.nan_to_num(vals), color='tab:blue')
    for i, v in enumerate(vals):
        ax.text(min(np.nan_to_num(v), top) + 0.01 * top, i,
                'n/a' if not np.isfinite(v) else f'{v:.3f}', va='center', fontsize=7)
    if finite.size:
        ax.axvline(finite.mean(), color='tab:red', ls='--',
                   label=f'mean {finite.mean():.3f}')
        ax.legend(fontsize=8, loc='lower right')
    ax.set_yticks(np.arange(len(vals)))
    ax.set_yticklabels(names, fontsize=max(5, min(9, 300 // max(len(vals), 1))))
    ax.set_xlim(0, top * 1.1)
    ax.set_xlabel('AP')
    ax.set_title(title or 'per-class AP')
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_pr_curves(path: str, curves: dict, ap: dict | None = None,
                   title: str = '', size=(600, 500)) -> str:
    """Precision-recall curves, one per class.

    Args:
        curves: ``{class name: (precision (n,), recall (n,))}`` as returned by
            ``stadl_plugins.evaluation.functional.precision_recall``.
        ap: optional ``{class name: AP}`` for the legend.
    """
    if not curves:
        raise ValueError('curves is empty: nothing to plot')
    fig, plt = _figure(size)
    ax = fig.add_subplot(111)
    for name, (prec, rec) in curves.items():
        prec, rec = np.asarray(prec, np.float64), np.asarray(rec, np.float64)
        if prec.shape != rec.shape:
            raise ValueError(f'{name}: precision {prec.shape} and recall {rec.shape} '
                             'differ in shape')
        label = name if not ap or name not in ap else f'{name} (AP {ap[name]:.3f})'
        ax.step(np.concatenate([[0], rec]), np.concatenate([[prec[0] if len(prec)
                                                              else 1], prec]),
                where='post', label=label, lw=1.3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_title(title or 'precision-recall')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower left')
    fig.tight_layout()
    return _save(fig, plt, path)


def find_scalar_logs(work_dir: str) -> list[str]:
    """``<run>/vis_data/scalars.json`` files under an mmengine work dir, oldest first."""
    if os.path.isfile(work_dir):
        return [work_dir]
    found = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files and os.path.basename(root) == 'vis_data':
            found.append(os.path.join(root, 'scalars.json'))
    if not found:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir} (an '
                                'mmengine work dir with LocalVisBackend)')
    return sorted(found)


def load_scalars(path: str) -> list[dict]:
    """Read an mmengine ``scalars.json`` (JSON lines) into a list of dicts."""
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f'{path}:{lineno}: not JSON ({exc})') from None
    return out


def plot_training_curves(path: str, records: list[dict], keys=None,
                         title: str = '', size=(900, 600)) -> str:
    """Training curves: train scalars vs iteration, validation metrics vs epoch.

    mmengine's LocalVisBackend writes one JSON line per logging step: training
    lines have ``iter``, ``epoch``, ``loss``, ``lr``...; validation lines have
    the metrics (e.g. ``mAP/overall``) with ``step`` = epoch (or iteration) and no
    ``loss``.

    Args:
        records: the lines (see :func:`load_scalars`).
        keys: scalars to plot (default: ``loss`` (+ other ``loss_*``), ``lr`` and
            every validation metric whose name contains ``mAP`` or ``acc``).
    """
    train = [r for r in records if 'iter' in r or 'loss' in r]
    val = [r for r in records if r not in train]
    if keys is None:
        tk = sorted({k for r in train for k in r if k == 'loss' or k.startswith('loss_')
                     or k == 'lr'})
        vk = sorted({k for r in val for k in r if 'mAP' in k or 'acc' in k})
        keys = tk + vk
    panels = []
    for k in keys:
        tr = [(r.get('iter', r.get('step')), r[k]) for r in train if k in r]
        va = [(r.get('step'), r[k]) for r in val if k in r]
        if tr:
            panels.append((k, tr, 'iteration'))
        elif va:
            panels.append((k, va, 'epoch'))
    if not panels:
        raise ValueError(f'none of the keys {keys} is in the log records')
    fig, plt = _figure(size)
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    for i, (k, pts, xlabel) in enumerate(panels, 1):
        ax = fig.add_subplot(nrows, ncols, i)
        x = [p[0] for p in pts]
        y = [p[1] for p in pts]
        ax.plot(x, y, marker='o' if len(pts) < 30 else None, ms=3, lw=1.2)
        ax.set_title(k, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if k == 'lr' or k.startswith('loss'):
            if min(y) > 0 and max(y) / max(min(y), 1e-12) > 50:
                ax.set_yscale('log')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, plt, path)
