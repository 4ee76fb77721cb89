"""Flow quality on benchmark v2 frames (issue 20, the ``flow`` block's first stage).

    python benchmarks/v2_flow_quality.py DATA_ROOT [--videos 12] [--pairs 20] \\
        [--out benchmarks/results/v2/flow_quality.json]

The flow block compares the two-stream detector fed flows of rising quality. This
measures that quality axis on the v2 val frames, where a camera pan moves
everything. ``DATA_ROOT`` is a v2 dataset (e.g. the suite's ``work/data/seed1``).
Its ``meta.json`` config rebuilds each video's scene
(``SyntheticVideoV2(cfg.video, video_seed_v2(cfg, index))``), and the scene's
``render(t, with_flow=True)`` gives the exact forward flow ``t -> t+1``. The
flows are estimated on the stored JPEG frames ``img_{t+1:05d}.jpg`` and
``img_{t+2:05d}.jpg``, the frames a detector sees. The render's sensor noise is
drawn per call, but it does not touch the flow, so the on-disk frames are
used as they are.

Rows: zero flow; the camera pan alone (an oracle of the ego-motion: what is left
is the actors' and objects' own motion); OpenCV Farneback, DIS (medium preset)
and TV-L1 (``opencv-contrib``'s ``cv2.optflow``; with OpenCV's stopping
criterion 0.01, and with 0.05, the flow block's ``tvl1_fast`` row), all on
grayscale and all built by ``ComputeFlow``'s own ``make_flow_fn``. EPE in
pixels over the whole frame and inside the GT person boxes of that frame
(``movement_frames_val.csv``, which is where the RoI head reads the flow).
Per video means. Differences between methods come with a 95 % percentile
bootstrap over the videos (1000 resamples; the unit, as in the rest of v2).
The cost is ms per 160 x 120 pair at one thread, the median over every timed
pair.

Per class (``per_class``; the ``movement`` label of each box): the actor's own
motion in its box, ``|GT flow - camera pan|`` (the signal a flow stream adds
over the pan), and each method's EPE in that box (the noise on it), box means
averaged over the class's boxes. It tests why a class stays at the floor in
the flow block: a class whose own motion is not larger than the flow's error
inside its box gets no usable motion from that flow. ``--methods`` restricts
the estimators (TV-L1 costs ~0.4 s a pair); ``--videos 120 --pairs 5`` covers
the rare classes.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))


#: the estimators measured, the one home of their names and settings:
#: ``{name: (the flow block's source, make_flow_fn arguments)}``, the very
#: estimator ``ComputeFlow`` runs for that flow-block row (``v2_flow`` builds its
#: ``tvl1_fast`` variant and reads this file's rows through this table)
ESTIMATORS = {
    'Farneback': ('farneback', dict(method='farneback')),
    'DIS (medium)': ('dis', dict(method='dis', preset='medium')),
    'TV-L1': ('tvl1', dict(method='tvl1')),
    'TV-L1 (epsilon 0.05)': ('tvl1_fast', dict(method='tvl1', tvl1_epsilon=0.05)),
}
METHOD_ARGS = {name: args for name, (_, args) in ESTIMATORS.items()}
#: ``{row name in flow_quality.json: flow-block source}``
SOURCE_OF = dict({'zero flow': 'zero'},
                 **{name: src for name, (src, _) in ESTIMATORS.items()})
METHODS = tuple(METHOD_ARGS)


def _methods(names=METHODS):
    from stadl_plugins.datasets.transforms.flow_computing import make_flow_fn
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise ValueError(f'unknown flow methods {unknown}; known: {list(METHODS)}')
    return {n: make_flow_fn(**METHOD_ARGS[n]) for n in names}


def _box_mask(boxes, h, w):
    m = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in boxes:
        m[int(np.floor(y1 * h)):int(np.ceil(y2 * h)),
          int(np.floor(x1 * w)):int(np.ceil(x2 * w))] = True
    return m


def measure(root: str, num_videos: int = 12, pairs: int = 20, seed: int = 0,
            n_boot: int = 1000, progress: bool = True, methods=METHODS,
            gap: int = 1) -> dict:
    """EPE of each method between frames ``t`` and ``t + gap`` (module docstring).
    For ``gap > 1`` the GT flow is the renderer's per-frame flows chained by
    ``compose_flows`` (what ``LoadFlowGT`` feeds the ground-truth-flow row)."""
    if gap < 1:
        raise ValueError(f'gap must be >= 1 frame, got {gap}')
    import cv2
    from tqdm import tqdm

    from stadl_plugins.datasets.synthetic.generator_v2 import (
        SyntheticV2Config,
        video_ids_v2,
        video_seed_v2,
    )
    from stadl_plugins.datasets.synthetic.movement_rows import read_movement_rows
    from stadl_plugins.datasets.synthetic.v2 import SyntheticVideoV2
    from stadl_plugins.datasets.transforms import compose_flows
    from stadl_plugins.evaluation.bootstrap import percentile_ci, resample_weights
    cv2.setNumThreads(1)
    with open(osp.join(root, 'annotations', 'meta.json')) as f:
        cfg = SyntheticV2Config.from_dict(json.load(f)['config'])
    train, val = video_ids_v2(cfg)
    vids = val[:num_videos]
    boxes, labels = {}, {}
    for r in read_movement_rows(osp.join(root, 'annotations', 'movement_frames_val.csv'),
                                columns=(10,)):
        if r.video in vids:
            boxes.setdefault((r.video, r.key), []).append(r.box)
            labels.setdefault((r.video, r.key), []).append(r.movement)
    methods = _methods(tuple(methods))
    names = ['zero flow', 'camera pan only (oracle)', *methods]
    epe = {n: np.zeros((len(vids), 2)) for n in names}   # per video: frame, boxes
    ms = {n: [] for n in methods}
    rng = np.random.default_rng(seed)
    jpeg_err = []
    per_class = {}  # movement -> {'own': [box means], method: [box means]}
    bar = tqdm(total=len(vids) * pairs, desc='flow pairs', disable=not progress)
    for vi, vid in enumerate(vids):
        video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, len(train) + vi))
        cand = sorted(t for (v, t) in boxes if v == vid and t + gap < video.num_frames)
        ts = sorted(rng.choice(cand, min(pairs, len(cand)), replace=False))
        acc = {n: [[], []] for n in names}
        for t in ts:
            img, gt = video.render(int(t), True)
            if gap > 1:
                steps = [gt] + [video.render(int(t) + k, True)[1] for k in range(1, gap)]
                gt = compose_flows(np.stack(steps), 0, gap)
            a, b = (cv2.imread(osp.join(root, 'rawframes', vid, f'img_{t + k:05d}.jpg'))
                    for k in (1, 1 + gap))
            jpeg_err.append(float(np.abs(cv2.cvtColor(a, cv2.COLOR_BGR2RGB).astype(
                np.float32) - img.astype(np.float32)).mean()))
            ga, gb = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (a, b))
            h, w = ga.shape
            mask = _box_mask(boxes[(vid, int(t))], h, w)
            pan = np.broadcast_to(np.median(gt.reshape(-1, 2)[~mask.ravel()], 0), gt.shape)
            flows = {'zero flow': np.zeros_like(gt), 'camera pan only (oracle)': pan}
            for n, fn in methods.items():
                t0 = time.perf_counter()
                flows[n] = fn(ga, gb)
                ms[n].append(1e3 * (time.perf_counter() - t0))
            errs = {n: np.linalg.norm(fl - gt, axis=-1) for n, fl in flows.items()}
            for n, err in errs.items():
                acc[n][0].append(err.mean())
                acc[n][1].append(err[mask].mean())
            own = np.linalg.norm(gt - pan, axis=-1)
            for box, mv in zip(boxes[(vid, int(t))], labels[(vid, int(t))]):
                bm = _box_mask([box], h, w)
                if not bm.any():
                    continue
                pc = per_class.setdefault(mv, {'own': [], **{n: [] for n in names}})
                pc['own'].append(float(own[bm].mean()))
                for n, err in errs.items():
                    pc[n].append(float(err[bm].mean()))
            bar.update()
        for n in names:
            epe[n][vi] = [np.mean(acc[n][0]), np.mean(acc[n][1])]
    bar.close()
    W = resample_weights(len(vids), n_boot, seed) / len(vids)
    rows = []
    for n in names:
        rows.append(dict(method=n, epe=float(epe[n][:, 0].mean()),
                         epe_boxes=float(epe[n][:, 1].mean()),
                         ms_per_pair=(float(np.median(ms[n])) if n in ms else None)))
    comps = []
    for a, b in (('DIS (medium)', 'zero flow'), ('TV-L1', 'DIS (medium)'),
                 ('TV-L1', 'Farneback'), ('DIS (medium)', 'Farneback'),
                 ('TV-L1', 'zero flow'), ('TV-L1 (epsilon 0.05)', 'DIS (medium)'),
                 ('TV-L1', 'TV-L1 (epsilon 0.05)')):
        if a not in epe or b not in epe:
            continue
        d = epe[a][:, 1] - epe[b][:, 1]
        lo, hi = percentile_ci(W @ d)
        comps.append(dict(a=a, b=b, metric='EPE in person boxes (a - b)',
                          effect=float(d.mean()), ci95=[lo, hi]))
    classes = []
    for mv in sorted(per_class):
        pc = per_class[mv]
        own = float(np.mean(pc['own']))
        classes.append(dict(movement=mv, boxes=len(pc['own']), own_motion=own,
                            epe={n: float(np.mean(pc[n])) for n in names},
                            own_over_epe={n: own / max(float(np.mean(pc[n])), 1e-9)
                                          for n in methods}))
    return dict(rows=rows, comparisons=comps, per_class=classes,
                videos=vids, pairs_per_video=pairs, gap_frames=gap,
                gap_seconds=gap / cfg.video.fps,
                num_pairs=int(len(vids) * pairs), frame_size=[h, w],
                jpeg_vs_render_mae=float(np.mean(jpeg_err)), n_boot=n_boot, seed=seed)


def to_markdown(res: dict) -> str:
    gap = res.get('gap_frames', 1)
    out = [f"{res['num_pairs']} frame pairs of {len(res['videos'])} v2 val videos "
           f"({res['frame_size'][1]} x {res['frame_size'][0]}), frames {gap} apart "
           f"({res.get('gap_seconds', 0.1 * gap):.1f} s); EPE in pixels, mean of "
           'the per-video means.', '',
           '| method | EPE (frame) | EPE (person boxes) | ms / pair (1 thread) |',
           '|---|---|---|---|']
    for r in res['rows']:
        t = '-' if r['ms_per_pair'] is None else f"{r['ms_per_pair']:.1f}"
        out.append(f"| {r['method']} | {r['epe']:.3f} | {r['epe_boxes']:.3f} | {t} |")
    out += ['', '| comparison (EPE in boxes) | a - b | 95 % CI |', '|---|---|---|']
    for c in res['comparisons']:
        out.append(f"| {c['a']} - {c['b']} | {c['effect']:+.3f} | "
                   f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] |")
    if res.get('per_class'):
        meth = list(res['per_class'][0]['own_over_epe'])
        out += ['', '| class | boxes | own motion (px) | '
                + ' | '.join(f'EPE {m}' for m in meth) + ' | '
                + ' | '.join(f'own / EPE {m}' for m in meth) + ' |',
                '|---|---|---|' + '---|' * (2 * len(meth))]
        for c in res['per_class']:
            out.append(f"| {c['movement']} | {c['boxes']} | {c['own_motion']:.3f} | "
                       + ' | '.join(f"{c['epe'][m]:.3f}" for m in meth) + ' | '
                       + ' | '.join(f"{c['own_over_epe'][m]:.2f}" for m in meth) + ' |')
    return '\n'.join(out) + '\n'


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data_root')
    p.add_argument('--videos', type=int, default=12)
    p.add_argument('--pairs', type=int, default=20)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--gap', type=int, default=1,
                   help='frames between the two frames of a pair (the detector: 2, '
                   'the dis_wide row: 4)')
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS,
                   help='flow estimators to measure (default: all)')
    p.add_argument('--out', help='write the JSON here (and a .md beside it)')
    a = p.parse_args(argv)
    if not osp.isfile(osp.join(a.data_root, 'annotations', 'meta.json')):
        print(f'error: {a.data_root} is not a v2 dataset (no annotations/meta.json)',
              file=sys.stderr)
        raise SystemExit(2)
    res = measure(a.data_root, a.videos, a.pairs, a.seed, methods=a.methods, gap=a.gap)
    md = to_markdown(res)
    print(md)
    if a.out:
        os.makedirs(osp.dirname(osp.abspath(a.out)), exist_ok=True)
        with open(a.out, 'w') as f:
            json.dump(res, f, indent=1)
        with open(osp.splitext(a.out)[0] + '.md', 'w') as f:
            f.write(md)
    return res


if __name__ == '__main__':
    main()
