"""RecLNet block of benchmark v2 (issue 20): does recurrence over person tracks
localise short actions better than per-frame scores, as Chéron et al. 2018 claim?

Cross-fitted, as the paper's features come from a detector that never saw the
tracks it scores: the stock detector is trained on data seed 0 (the suite's
``stock[(0, 0)]``), and RecLNet is trained on data seed 1's train videos and
evaluated on data seed 1's val videos, all of them unseen by the detector.

Two stages, both resumable:

1. :func:`extract_features` (``reclnet_features[1]``): the person tracks of data
   seed 1 from the per-frame GT person boxes (``movement_frames_<split>.csv``,
   :func:`~stadl_plugins.datasets.synthetic.person_tracks.person_tracks_from_movement_frames`;
   IoU-linking the 1-Hz keyframe proposals breaks 4 actors into 32-41 pieces,
   docs/reclnet.md), and the detector's 64-d RoI feature (the ``fc_cls`` input) on
   every ``every``-th frame of each track, written by
   ``tools/reclnet/extract_track_features.py`` (the user's command, run here).
2. :func:`run_block` (``reclnet[1]``): the rows of :data:`ROWS`, each trained on
   windows of 20 steps of the train tracks for every training seed, scored on the
   whole val tracks, spread to every frame (``densify_track_steps``), cut into
   tubes (``localize_tracks``: 1-s median window at the files' 10 fps + theta
   0.1, or the 2-state Viterbi with its state-change cost and decision threshold
   chosen per class on the train tracks, :func:`tune_viterbi`), and evaluated with ACT's video-AP. Claims compare
   rows with the paired per-video bootstrap of ACT video-AP
   (:func:`~stadl_plugins.evaluation.bootstrap.weighted_act_ap`).

Gaps we filled (the paper is silent or does not apply):

* Labels: v2 has no background frame (``stand`` and ``walk`` are classes, and
  ``carry`` / ``listen_to`` overlap them), but RecLNet's softmax gives one label per
  frame, so the block localises the five ``SHORT_ACTIONS`` (1-2 s inside 30-60 s
  tracks: the paper's setting, DALY-like) and every other frame is background.
  ``frame_labels_from_gt`` already prefers the shorter GT tube on an IoU tie, so a
  spin inside a stand keeps its label.
* Tracks are GT person tracks (who is where is given; when and what is not).
* Trimmed classification (paper Section 5.2): every GT segment of a short action
  on a val track (a maximal run of one label) is classified by its mean score;
  per-class AP over the segments (VOC rule), mean over classes. The claim
  "recurrence helps localisation more than classification" is tested as the
  difference of the two GRU - per-frame-linear gains, in AP points, under the same
  resamples.
* Sizes: fc 64, memory 32 (paper 1024 / 256) on a 64-d feature; Adam lr 5e-3,
  weight decay 5e-4 and 100 windows per batch (the paper's).
* No flow stream: v2 features are RGB only (the two-stream model with a flow
  subnet is the ``flow`` block's work), so the fusion rows are reported "not run".
"""
from __future__ import annotations

import json
import os
import os.path as osp
import sys
import time

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
EXTRACT_TOOL = osp.join(REPO, 'tools', 'reclnet', 'extract_track_features.py')

#: the v2 blocks this module runs (the suite's ``--blocks`` names)
TRACK_BLOCKS = ('reclnet',)

#: (row name, model, localisation)
ROWS = [
    ('stock detector scores', 'det', 'threshold'),
    ('stock detector scores', 'det', 'viterbi'),
    ('stock detector scores', 'det', 'viterbi, tau 0.5'),
    ('stock detector scores', 'det', 'threshold, tuned theta'),
    ('per-frame linear', 'linear', 'threshold'),
    ('per-frame linear', 'linear', 'viterbi'),
    ('FC', 'fc', 'threshold'),
    ('LSTM', 'lstm', 'threshold'),
    ('GRU', 'gru', 'threshold'),
    ('GRU', 'gru', 'viterbi'),
    ('GRU', 'gru', 'threshold, tuned theta'),
]
#: tube-IoU thresholds reported; claims at HEADLINE_IOU (the paper's Table 2: 0.3)
IOUS = (0.1, 0.3, 0.5)
HEADLINE_IOU = 0.3

#: (claim, kind, row a, row b, metric); rows are 'name (localisation)', metric
#: 'loc' (video-mAP at HEADLINE_IOU) or 'loc-cls' (difference of gains)
CLAIMS = [
    ('RecLNet (GRU) > the detector\'s own scores, threshold localisation '
     '(paper Table 1: +8.6 on UCF101-24)', 'better',
     'GRU (threshold)', 'stock detector scores (threshold)', 'loc'),
    ('recurrence > a per-frame linear classifier on the same features (threshold)',
     'better', 'GRU (threshold)', 'per-frame linear (threshold)', 'loc'),
    ('recurrence, not the extra layers (GRU > FC, threshold)', 'better',
     'GRU (threshold)', 'FC (threshold)', 'loc'),
    ('GRU does not lose to LSTM (threshold)', 'no_loss', 'GRU (threshold)',
     'LSTM (threshold)', 'loc'),
    ('threshold > Viterbi (switch cost and decision threshold tuned per class on the '
     'train tracks, as [49]) on the detector scores (paper Table 2: 60.4 vs 55.5)',
     'better', 'stock detector scores (threshold)', 'stock detector scores (viterbi)',
     'loc'),
    ('the same with both tuned per class on the train tracks (threshold, tuned theta '
     '> Viterbi, detector scores)', 'better',
     'stock detector scores (threshold, tuned theta)', 'stock detector scores (viterbi)',
     'loc'),
    ('threshold > Viterbi on RecLNet (GRU) scores (Viterbi tuned per class)', 'better',
     'GRU (threshold)', 'GRU (viterbi)', 'loc'),
    ('recurrence helps localisation more than trimmed classification '
     '((GRU - linear) on video-mAP > (GRU - linear) on segment mAP)', 'better',
     'GRU (threshold)', 'per-frame linear (threshold)', 'loc-cls'),
]
NOT_RUN = [
    dict(claim='the fusion layer >= averaging the RGB and flow streams',
         verdict='not run',
         reason='v2 track features have no flow stream: the detector is RGB only',
         experiment='extract rgb + flow features from the two-stream model of the flow '
                    'block (--streams rgb flow) and add the average / gating / '
                    'fusion_layer rows'),
]


def row_key(name: str, method: str) -> str:
    return f'{name} ({method})'


def report_rows_md(block: dict) -> list:
    """Markdown lines of the block's row table (report.md)."""
    ious = [k[len('v_map@'):] for k in block['rows'][0] if k.startswith('v_map@')
            and not k.endswith('_per_seed')]
    out = ['| row | seeds | ' + ' | '.join(f'v-mAP@{t}' for t in ious)
           + ' | segment mAP | frame acc |', '|---|---|' + '---|' * (len(ious) + 2)]
    for r in block['rows']:
        out.append(f"| {r['row']} | {r['seeds']} | "
                   + ' | '.join(f"{r[f'v_map@{t}']:.3f}" for t in ious)
                   + f" | {r['segment_cls_map']:.3f} | {r['frame_acc']:.3f} |")
    return out + ['']


# --------------------------------------------------------------------- stage 1
def extract_features(root: str, det_cfg: str, det_ckpt: str, out: str, every: int = 2,
                     min_length: int = 20, progress: bool = True,
                     device: str = 'cpu') -> dict:
    """Tracks + RoI features of data seed ``root``'s train and val videos.

    Writes ``out/tracks_<split>.pkl`` and ``out/<split>/<video>.npz``; a rerun
    skips finished videos (the tool's resume). Returns per split the track report
    and the tool's seconds.
    """
    import importlib.util

    from stadl_plugins.datasets.synthetic.person_tracks import (
        person_tracks_from_movement_frames,
    )
    from stadl_plugins.tracking.linking import save_tracks
    with open(osp.join(root, 'annotations', 'meta.json')) as f:
        video = json.load(f)['config']['video']
    spec = importlib.util.spec_from_file_location('_extract_track_features', EXTRACT_TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    info = {}
    for split in ('val', 'train'):
        tracks, report = person_tracks_from_movement_frames(
            osp.join(root, 'annotations', f'movement_frames_{split}.csv'),
            video['width'], video['height'], min_length=min_length)
        tpath = osp.join(out, f'tracks_{split}.pkl')
        os.makedirs(out, exist_ok=True)
        save_tracks(tpath, tracks, dict(source='movement_frames', split=split,
                                        min_length=min_length))
        t0 = time.time()
        argv = [det_cfg, det_ckpt, osp.join(out, split), '--tracks', tpath,
                '--frames-root', osp.join(root, 'rawframes'),
                '--gt', osp.join(root, 'annotations', 'synthetic_gt.pkl'),
                '--every', str(every), '--float16', '--device', device]
        if not progress:
            argv.append('--no-progress')
        rc = tool.main(argv)
        if rc != 0:
            raise RuntimeError(f'extract_track_features.py exited {rc} on {split} '
                               f'(argv {argv})')
        info[split] = dict(tracks=report, seconds=round(time.time() - t0, 1),
                           dir=osp.join(out, split))
    return info


# --------------------------------------------------------------------- stage 2
def short_action_gt(gt: dict, short=None) -> tuple[dict, np.ndarray]:
    """GT restricted to the short actions, and the lookup ``lut`` that maps a
    feature file's target ``1 + c`` (c over ``gt['labels']``) to ``1 + k`` (k over
    the short actions) or 0 (background); index ``lut[target]``."""
    from stadl_plugins.datasets.synthetic import SHORT_ACTIONS
    short = list(SHORT_ACTIONS if short is None else short)
    missing = [n for n in short if n not in gt['labels']]
    if missing:
        raise ValueError(f'GT labels {gt["labels"]} lack the short actions {missing}')
    idx = [gt['labels'].index(n) for n in short]
    out = dict(gt, labels=short, gttubes={
        v: {k: t[c] for k, c in enumerate(idx) if c in t}
        for v, t in gt['gttubes'].items()})
    lut = np.zeros(len(gt['labels']) + 1, np.int64)
    for k, c in enumerate(idx):
        lut[1 + c] = 1 + k
    return out, lut


def _remap(labels, lut):
    labels = np.asarray(labels)
    return np.where(labels >= 0, lut[np.maximum(labels, 0)], -1)


def stack_tracks(feature_dir: str, videos: list) -> dict:
    """Every track of ``videos`` padded into arrays (``feat (N, S, D)`` float32,
    ``frames``, ``boxes``, ``labels``, ``lengths``, ``videos``, ``fps``)."""
    from stadl_plugins.datasets.track_feature_io import track_fps
    from stadl_plugins.datasets.track_windows import read_track_features
    rows = []
    for v in videos:
        path = osp.join(feature_dir, f'{v}.npz')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no feature file for video {v} '
                                    '(run the reclnet_features stage, or '
                                    'tools/reclnet/extract_track_features.py)')
        rows.append(read_track_features(path, ('rgb',)))
    rates = {track_fps(r) for r in rows} - {None}
    if len(rates) != 1:
        raise ValueError(f'{feature_dir}: expected one fps in the files, got {rates}')
    from bench_reclnet import stack_track_rows
    return dict(stack_track_rows(rows, videos), fps=rates.pop())


def segment_run(probs: np.ndarray, labels: np.ndarray, lengths: np.ndarray,
                track_videos: list, videos: list, num_classes: int):
    """Trimmed classification of the GT segments (maximal runs of one action
    label ``> 0`` on a track) as a :class:`RankedRun` for the VOC bootstrap:
    for class k every segment is a detection scored by its mean ``probs[..., 1+k]``,
    a TP when its label is ``1 + k``."""
    from stadl_plugins.evaluation.bootstrap import RankedClass, RankedRun
    vidx = {v: i for i, v in enumerate(videos)}
    seg_scores, seg_label, seg_video = [], [], []
    for i, n in enumerate(lengths):
        lab = labels[i, :n]
        start = 0
        for t in range(1, n + 1):
            if t == n or lab[t] != lab[start]:
                if lab[start] > 0:
                    seg_scores.append(probs[i, start:t, 1:].mean(0))
                    seg_label.append(int(lab[start]))
                    seg_video.append(vidx[track_videos[i]])
                start = t
    sc = np.array(seg_scores).reshape(-1, num_classes)
    lab = np.array(seg_label, np.int64)
    vi = np.array(seg_video, np.int64)
    classes = {}
    for k in range(num_classes):
        o = np.argsort(-sc[:, k], kind='stable')
        tp = (lab[o] == 1 + k).astype(np.float64)
        ng = np.bincount(vi[lab == 1 + k], minlength=len(videos)).astype(np.int64)
        classes[k] = RankedClass(tp, vi[o], ng)
    return RankedRun(list(videos), classes)


#: the Viterbi state-change costs and decision thresholds tried on the train tracks
PENALTIES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
DECISION_THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
#: the threshold method's theta tried on the train tracks (rows 'threshold, tuned
#: theta'; the paper's 0.1 is the plain 'threshold' rows)
THETAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def tune_viterbi(probs: np.ndarray, tracks: dict, gt: dict, videos: list,
                 penalties=PENALTIES, thresholds=DECISION_THRESHOLDS) -> dict:
    """Per class, the Viterbi ``(switch_penalty, decision threshold)`` of the grid
    with the best ACT video-AP at HEADLINE_IOU on the train tracks.

    The paper's Viterbi baseline [49] weights its unaries and its smoothness per
    class, tuned on training data; ours has the state-change cost and the
    decision threshold (:func:`~stadl_plugins.localization.temporal.viterbi_segments`).
    Classes are localised independently (per-class Viterbi and NMS), so the
    per-class choice from one grid is exact. Returns ``{class index:
    dict(switch_penalty, decision_threshold, train_ap)}`` (the first of equal ones).
    """
    from stadl_plugins.apis.track_features import densify_track_steps
    from stadl_plugins.evaluation.functional.video_ap import video_ap
    from stadl_plugins.localization.temporal import localize_tracks
    s, b, ln, st = densify_track_steps(probs[..., 1:], tracks['frames'], tracks['boxes'],
                                       tracks['lengths'])
    best = {}
    for lam in penalties:
        for tau in thresholds:
            tubes = localize_tracks(s, b, ln, st, tracks['videos'], method='viterbi',
                                    switch_penalty=lam, viterbi_threshold=tau)
            aps = video_ap(gt, tubes, videos, HEADLINE_IOU, protocol='act')['per_class']
            for k, ap in enumerate(aps.values()):
                if k not in best or ap / 100 > best[k]['train_ap']:
                    best[k] = dict(switch_penalty=float(lam), decision_threshold=float(tau),
                                   train_ap=float(ap) / 100)
    return best


def tune_theta(probs: np.ndarray, tracks: dict, gt: dict, videos: list,
               thetas=THETAS) -> dict:
    """Per class, the threshold method's ``theta`` with the best train ACT
    video-AP at HEADLINE_IOU (the 1-s median window kept); ``{k: dict(theta,
    train_ap)}``, the first of equal ones."""
    from stadl_plugins.apis.track_features import densify_track_steps
    from stadl_plugins.evaluation.functional.video_ap import video_ap
    from stadl_plugins.localization.temporal import localize_tracks
    s, b, ln, st = densify_track_steps(probs[..., 1:], tracks['frames'], tracks['boxes'],
                                       tracks['lengths'])
    best = {}
    for theta in thetas:
        tubes = localize_tracks(s, b, ln, st, tracks['videos'], theta=theta,
                                fps=tracks['fps'])
        aps = video_ap(gt, tubes, videos, HEADLINE_IOU, protocol='act')['per_class']
        for k, ap in enumerate(aps.values()):
            if k not in best or ap / 100 > best[k]['train_ap']:
                best[k] = dict(theta=float(theta), train_ap=float(ap) / 100)
    return best


def localize_per_class(scores, boxes, lengths, starts, videos, params: dict,
                       fps: float) -> dict:
    """Tubes of each class with its own ``params[k]`` (from :func:`tune_viterbi`:
    Viterbi, or :func:`tune_theta`: threshold)."""
    from stadl_plugins.localization.temporal import localize_tracks
    out, by = {}, {}
    for k, p in params.items():
        by.setdefault(tuple(sorted((n, v) for n, v in p.items() if n != 'train_ap')),
                      []).append(k)
    for items, ks in by.items():
        kw = dict(items)
        if 'theta' in kw:
            kw = dict(method='threshold', theta=kw['theta'], fps=fps)
        else:
            kw = dict(method='viterbi', switch_penalty=kw['switch_penalty'],
                      viterbi_threshold=kw['decision_threshold'])
        tubes = localize_tracks(scores, boxes, lengths, starts, videos, **kw)
        out.update({k: tubes[k] for k in ks if k in tubes})
    return out


def _detector_probs(feat: np.ndarray, det_ckpt: str, class_ids: list) -> np.ndarray:
    """The stock detector's own per-step scores: its ``fc_cls`` (sigmoid, the
    AVA-style multi-label head) at the short actions' ids; background column
    ``1 - max``."""
    import torch

    from stadl_plugins.safe_load import load_checkpoint_file
    sd = load_checkpoint_file(det_ckpt, map_location='cpu')['state_dict']
    w = sd['roi_head.bbox_head.fc_cls.weight'][class_ids].float()
    b = sd['roi_head.bbox_head.fc_cls.bias'][class_ids].float()
    s = torch.sigmoid(torch.from_numpy(feat) @ w.T + b).numpy()
    return np.concatenate([1 - s.max(-1, keepdims=True), s], -1)


def run_block(feature_root: str, gt_file: str, det_ckpt: str, seeds=(0, 1, 2),
              epochs: int = 20, window: int = 20, stride: int = 10, fc: int = 64,
              memory: int = 32, n_boot: int = 1000, boot_seed: int = 0,
              plot_dir: str | None = None, progress: bool = True) -> dict:
    """Train and evaluate every row of :data:`ROWS`; returns the block dict
    (``paper``, ``rows``, ``claims``, ``setup``)."""
    import torch
    from bench_reclnet import _plot_curves, _train_model, _windows, per_frame_linear
    from tqdm import tqdm
    from v2_blocks import claim_verdict

    from stadl_plugins.apis.track_features import densify_track_steps
    from stadl_plugins.datasets.synthetic import SHORT_ACTIONS, V2_CLASSES
    from stadl_plugins.datasets.track_windows import TrackWindowDataset
    from stadl_plugins.evaluation.bootstrap import (
        percentile_ci,
        rank_video_run,
        resample_weights,
        run_aps,
    )
    from stadl_plugins.localization.temporal import localize_tracks
    from stadl_plugins.models.localizers.reclnet import RecLNet
    from stadl_plugins.safe_load import safe_pickle_load

    t_start = time.time()
    with open(gt_file, 'rb') as f:
        gt_all = safe_pickle_load(f)
    gt, lut = short_action_gt(gt_all)
    c = len(gt['labels'])
    train_v = sorted(gt_all['train_videos'][0])
    val_v = sorted(gt_all['test_videos'][0])
    ds = TrackWindowDataset(osp.join(feature_root, 'train'), ('rgb',), window, stride,
                            videos=train_v)
    feats, y = _windows(ds)
    y = torch.from_numpy(_remap(y.numpy(), lut))
    x = feats['rgb']
    valid = y >= 0
    mean, std = x[valid].mean(0), x[valid].std(0) + 1e-6
    train = ({'rgb': (x - mean) / std}, y)
    val = stack_tracks(osp.join(feature_root, 'val'), val_v)
    val['labels'] = _remap(val['labels'], lut)
    d = val['feat'].shape[2]
    x_val = torch.from_numpy((val['feat'] - mean.numpy()) / std.numpy())
    ok = val['labels'] >= 0
    ids = {n: i for i, n, _ in V2_CLASSES}
    det = _detector_probs(val['feat'], det_ckpt, [ids[n] for n in SHORT_ACTIONS])

    def build(kind):
        if kind == 'linear':
            return per_frame_linear(d, c)
        return RecLNet(c, {'rgb': d}, fc, memory, kind)

    if any(m != 'threshold' for _, _, m in ROWS):
        tr = stack_tracks(osp.join(feature_root, 'train'), train_v)
        x_train_tracks = torch.from_numpy((tr['feat'] - mean.numpy()) / std.numpy())
        det_train = _detector_probs(tr['feat'], det_ckpt, [ids[n] for n in SHORT_ACTIONS])
    runs = {row_key(n, m): dict(loc={t: [] for t in IOUS}, cls=[], acc=[], tuned=[])
            for n, _, m in ROWS}
    curves = {}
    n_jobs = sum(1 for _, k, _ in ROWS if k == 'det') + len(seeds) * sum(
        1 for _, k, _ in ROWS if k != 'det')
    bar = tqdm(total=n_jobs, desc='reclnet rows', disable=not progress)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny GRUs: one thread is faster on a busy machine
    try:
        for i, seed in enumerate(seeds):
            models = {}
            for name, kind, method in ROWS:
                if kind == 'det':
                    if i:
                        continue
                    probs = det
                else:
                    if kind not in models:
                        torch.manual_seed(seed)  # the initial weights, too, per seed
                        models[kind] = _train_model(build(kind), train, epochs, 5e-3,
                                                    seed).eval()
                    with torch.no_grad():
                        probs = models[kind]({'rgb': x_val}).numpy()
                if i == 0 and method == 'threshold':
                    curves[name] = probs
                key = row_key(name, method)
                runs[key]['acc'].append(float(np.mean(probs.argmax(-1)[ok]
                                                      == val['labels'][ok])))
                runs[key]['cls'].append(segment_run(probs, val['labels'], val['lengths'],
                                                    val['videos'], val_v, c))
                s, b, ln, st = densify_track_steps(probs[..., 1:], val['frames'],
                                                   val['boxes'], val['lengths'])
                if method != 'threshold':  # parameters chosen per class on train tracks
                    if kind == 'det':
                        tprobs = det_train
                    else:
                        with torch.no_grad():
                            tprobs = models[kind]({'rgb': x_train_tracks}).numpy()
                    if method == 'threshold, tuned theta':
                        params = tune_theta(tprobs, tr, gt, train_v)
                    else:
                        grid = (dict(thresholds=(0.5,)) if method == 'viterbi, tau 0.5'
                                else {})
                        params = tune_viterbi(tprobs, tr, gt, train_v, **grid)
                    runs[key]['tuned'].append({gt['labels'][k]: v
                                               for k, v in params.items()})
                    tubes = localize_per_class(s, b, ln, st, val['videos'], params,
                                               val['fps'])
                else:
                    tubes = localize_tracks(s, b, ln, st, val['videos'], method=method,
                                            fps=val['fps'])
                for t in IOUS:
                    runs[key]['loc'][t].append(rank_video_run(gt, tubes, val_v, t))
                bar.update()
    finally:
        torch.set_num_threads(n_threads)
        bar.close()

    cls_ids = list(range(c))
    W = np.vstack([np.ones((1, len(val_v))), resample_weights(len(val_v), n_boot,
                                                               boot_seed)])

    def samples(rr, ap):  # (B + 1,) mean over seeds, then over classes
        a = np.nanmean(run_aps(rr, cls_ids, W, ap), axis=0)
        return np.nanmean(a, axis=1), a[0]

    rows, cache = [], {}
    for name, kind, method in ROWS:
        key = row_key(name, method)
        r = runs[key]
        entry = dict(row=key, model=kind, localization=method, seeds=len(r['acc']),
                     frame_acc=float(np.mean(r['acc'])))
        if r['tuned']:  # per seed, per class: the chosen parameters, train AP
            entry['tuned_params_per_seed'] = r['tuned']
        for t in IOUS:
            smp, per_class = samples(r['loc'][t], 'act')
            cache[(key, 'loc', t)] = smp
            entry[f'v_map@{t:g}'] = float(smp[0])
            entry[f'v_ap@{t:g}'] = dict(zip(gt['labels'], map(float, per_class)))
            entry[f'v_map@{t:g}_per_seed'] = [
                float(np.nanmean(run_aps([x], cls_ids, W[:1], 'act')[0, 0]))
                for x in r['loc'][t]]
        smp, _ = samples(r['cls'], 'voc')
        cache[(key, 'cls')] = smp
        entry['segment_cls_map'] = float(smp[0])
        rows.append(entry)
    claims = []
    for text, kind, a, b, metric in CLAIMS:
        da = cache[(a, 'loc', HEADLINE_IOU)] - cache[(b, 'loc', HEADLINE_IOU)]
        if metric == 'loc-cls':
            diff = da - (cache[(a, 'cls')] - cache[(b, 'cls')])
        else:
            diff = da
        lo, hi = percentile_ci(diff[1:])
        claims.append(dict(claim=text, effect=float(diff[0]), ci95=[lo, hi],
                           verdict=claim_verdict(kind, lo, hi), kind=kind, rows=[a, b],
                           metric=(f'v_map@{HEADLINE_IOU:g}' if metric == 'loc' else
                                   f'(v_map@{HEADLINE_IOU:g} gain) - (segment mAP gain)'),
                           seeds=[len(runs[a]['acc']), len(runs[b]['acc'])]))
    claims += [dict(c, effect=None, ci95=None) for c in NOT_RUN]
    plots = []
    if plot_dir and curves:
        plots.append(_plot_curves(curves, val['labels'], val['lengths'], plot_dir,
                                  name='v2_reclnet_score_curves.png'))
    return dict(
        paper='Chéron et al. 2018, Modeling Spatio-Temporal Human Track Structure for '
              'Action Localization (RecLNet: GRU over person tracks + threshold '
              'temporal localisation)',
        rows=rows, claims=claims, plots=plots,
        setup=dict(classes=gt['labels'], train_videos=len(train_v), val_videos=len(val_v),
                   train_windows=int(len(y)), val_tracks=int(len(val['lengths'])),
                   val_steps=int(val['lengths'].sum()), fps=val['fps'],
                   frame_step=int(np.median(np.diff(val['frames'][0, :2])))
                   if val['frames'].shape[1] > 1 else None,
                   epochs=epochs, window=window, stride=stride, fc=fc, memory=memory,
                   seeds=list(seeds), n_boot=n_boot, headline_iou=HEADLINE_IOU,
                   seconds=round(time.time() - t_start, 1)))


if __name__ == '__main__':  # a block on an existing feature root, for a quick look
    import argparse
    sys.path.insert(0, HERE)
    ap = argparse.ArgumentParser(description='RecLNet v2 block on extracted features')
    ap.add_argument('feature_root')
    ap.add_argument('gt')
    ap.add_argument('det_ckpt')
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--n-boot', type=int, default=1000)
    ap.add_argument('--out', help='write the block JSON here')
    a = ap.parse_args()
    blk = run_block(a.feature_root, a.gt, a.det_ckpt, seeds=a.seeds, epochs=a.epochs,
                    n_boot=a.n_boot, plot_dir=osp.dirname(a.out) if a.out else None)
    print(json.dumps(blk, indent=1))
    if a.out:
        with open(a.out, 'w') as f:
            json.dump(blk, f, indent=1)
