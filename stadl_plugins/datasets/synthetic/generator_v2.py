"""Write synthetic benchmark v2 (see :mod:`.v2`) in the same AVA / ACT formats as v1.

Files are those of v1 (``docs/synthetic_benchmark.md``) plus::

    annotations/movements_{train,val}.csv    video_id,timestamp,x1,y1,x2,y2,movement,person_id
                                             (per-keyframe movement of every box:
                                             the pretraining labels)
    annotations/recognition_{train,val}.csv  video_id,start_frame,num_frames,label
                                             (0-based first frame; clips around each
                                             short action of the active actor)
    annotations/movement_frames_{train,val}.csv
                                             video_id,frame,x1,y1,x2,y2,movement,
                                             person_id,same_before,same_after
                                             (every ``MOVEMENT_FRAME_STRIDE``-th frame
                                             of the keyframe range, 0-based frame; how
                                             many frames before / after it the person
                                             keeps the same movement, capped at
                                             ``MOVEMENT_RUN_CAP``: pretraining picks
                                             clips of one movement from these)

Videos have different lengths (``min_seconds``-``max_seconds``); keyframes sit at
``timestamp_start + s`` for ``s = keyframe_margin .. seconds - keyframe_margin - 1``,
so every clip of up to ``2 * keyframe_margin`` s centred on a keyframe lies in
the video although the dataset's ``timestamp_end`` is that of the longest video.
``with_flow`` is off by default (ground-truth flow of 240+120 long videos is
12 GB before compression, 98 MB after for data seed 0); turn it on for a flow study, or add
the flow to a dataset already made with :func:`write_flow_v2` (the same flows:
it re-renders every video in frame order). v2 flow files store one array per
frame (layout ``'frames'`` of :mod:`~stadl_plugins.structures.flow_file`), so a
training clip decompresses only its own two or three flows.
"""
from __future__ import annotations

import csv
import json
import os
import pickle
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ...structures.flow_file import save_flows
from ..ava_io import (
    AVARow,
    img_key,
    write_annotation_csv,
    write_excluded_csv,
    write_label_map,
    write_proposals,
)
from .generator import action_tubes, dataset_ready, map_videos, write_frames
from .v2 import MOVEMENTS, SHORT_ACTIONS, V2_CLASS_IDS, V2_CLASSES, SyntheticVideoV2, VideoConfigV2
from .video import make_proposals

FORMAT_VERSION_V2 = 'v2.1'
#: v2 flow files: one array per frame (:mod:`~stadl_plugins.structures.flow_file`)
FLOW_LAYOUT_V2 = 'frames'
FLOW_MANIFEST = 'manifest.json'
#: movement_frames rows: every frame; runs of the same movement capped at 20
MOVEMENT_FRAME_STRIDE = 1
MOVEMENT_RUN_CAP = 20


@dataclass
class SyntheticV2Config:
    """Everything that determines a v2 dataset (with the seed)."""
    seed: int = 0
    num_train: int = 240
    num_val: int = 120
    timestamp_start: int = 900
    video: VideoConfigV2 = field(default_factory=VideoConfigV2)
    with_flow: bool = False
    with_video: bool = False
    jpeg_quality: int = 90
    recognition_clip_seconds: float = 3.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'SyntheticV2Config':
        d = dict(d)
        v = dict(d.get('video', {}))
        for k in ('background_seconds', 'carry_gap', 'pan_amplitude', 'pan_period'):
            if k in v:
                v[k] = tuple(v[k])
        d['video'] = VideoConfigV2(**v)
        return cls(**d)


def video_ids_v2(cfg: SyntheticV2Config) -> tuple[list[str], list[str]]:
    return ([f'syn2_train_{i:03d}' for i in range(cfg.num_train)],
            [f'syn2_val_{i:03d}' for i in range(cfg.num_val)])


def video_seed_v2(cfg: SyntheticV2Config, index: int) -> int:
    ss = np.random.SeedSequence([cfg.seed, 2, index])
    return int(ss.generate_state(1)[0])


def movement_frames(video: SyntheticVideoV2, vid: str,
                    stride: int = MOVEMENT_FRAME_STRIDE,
                    cap: int = MOVEMENT_RUN_CAP) -> list[tuple]:
    """Rows of ``movement_frames_<split>.csv`` for one video: every ``stride``-th
    frame of the keyframe range (clips of up to ``2 * keyframe_margin`` s fit),
    each visible person with its normalised box, movement and the number of
    frames (<= ``cap``) before / after during which the movement stays the same."""
    vc = video.cfg
    T = video.num_frames
    scale = np.array([vc.width, vc.height, vc.width, vc.height], np.float64)
    lo, hi = vc.fps * vc.keyframe_margin, T - vc.fps * vc.keyframe_margin
    rows = []
    for t in range(lo, hi, stride):
        for a in video.annotations(t):
            mv = video.tracks[a.person_id].movements
            before = 0
            while before < cap and t - before - 1 >= 0 and mv[t - before - 1] == mv[t]:
                before += 1
            after = 0
            while after < cap and t + after + 1 < T and mv[t + after + 1] == mv[t]:
                after += 1
            rows.append((vid, t, tuple(float(v) for v in a.box / scale), mv[t],
                         a.person_id, before, after))
    return rows


def _write_movement_frames(path: str, rows) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, t, box, mv, pid, before, after in rows:
            w.writerow([vid, t, *(f'{v:.3f}' for v in box), mv, pid, before, after])


def write_movement_frames(out_dir: str, progress: bool = True) -> dict[str, int]:
    """Write ``movement_frames_{train,val}.csv`` into an existing v2 dataset
    without re-rendering it (the layout is a pure function of the config and seed
    in ``meta.json``). The generator writes them itself; this backfills datasets
    generated before the file existed. Returns the row count per split."""
    ann_dir = os.path.join(out_dir, 'annotations')
    with open(os.path.join(ann_dir, 'meta.json')) as f:
        meta = json.load(f)
    cfg = SyntheticV2Config.from_dict(meta['config'])
    train, val = video_ids_v2(cfg)
    counts = {}
    for split, vids, offset in (('train', train, 0), ('val', val, len(train))):
        def one(i, vids=vids, offset=offset):
            video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, offset + i))
            return movement_frames(video, vids[i])
        if progress:
            from mmengine.utils import track_progress
            per_video = track_progress(one, range(len(vids)))
        else:
            per_video = [one(i) for i in range(len(vids))]
        rows = [r for rs in per_video for r in rs]
        _write_movement_frames(os.path.join(ann_dir, f'movement_frames_{split}.csv'),
                               rows)
        counts[split] = len(rows)
    return counts


def _make_one(args) -> dict:
    cfg, index, vid, out_dir = args
    vc = cfg.video
    seed = video_seed_v2(cfg, index)
    video = SyntheticVideoV2(vc, seed)
    T = video.num_frames
    write_frames(video, T, cfg, vid, out_dir, flow_layout=FLOW_LAYOUT_V2)
    per_frame = [video.annotations(t) for t in range(T)]

    rows, moves, excluded, proposals = [], [], [], {}
    prng = np.random.default_rng(seed ^ 0x5EED)
    scale = np.array([vc.width, vc.height, vc.width, vc.height], np.float64)
    for s in video.keyframe_seconds():
        t = vc.fps * s
        ts = cfg.timestamp_start + s
        anns = per_frame[t]
        if video.occluded(t):
            excluded.append((vid, ts))
        for a in anns:
            nb = tuple(float(v) for v in a.box / scale)
            for name in a.labels:
                rows.append(AVARow(vid, ts, nb, V2_CLASS_IDS[name], a.person_id))
            moves.append((vid, ts, nb, video.tracks[a.person_id].movements[t],
                          a.person_id))
        props = make_proposals(prng, [a.box for a in anns], vc.width, vc.height)
        if len(props):
            proposals[img_key(vid, ts)] = props

    tubes = action_tubes(per_frame, len(video.tracks),
                         [name for _, name, _ in V2_CLASSES])
    clips = video.recognition_clips(cfg.recognition_clip_seconds)
    return dict(vid=vid, rows=rows, moves=moves, frame_moves=movement_frames(video, vid),
                excluded=excluded,
                proposals=proposals, tubes=tubes, nframes=T, seconds=video.seconds,
                resolution=(vc.height, vc.width), num_actors=len(video.tracks),
                clips=clips)


def _write_moves(path: str, moves) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, ts, box, mv, pid in moves:
            w.writerow([vid, f'{ts:04d}', *(f'{v:.3f}' for v in box), mv, pid])


def _write_clips(path: str, clips) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, start, n, label in clips:
            w.writerow([vid, start, n, label])


def generate_synthetic_v2(out_dir: str, cfg: SyntheticV2Config | None = None,
                          workers: int | None = None, progress: bool = True) -> dict:
    """Generate benchmark v2 into ``out_dir`` (deterministic given ``cfg.seed``,
    independent of ``workers``). Returns the ``meta.json`` content."""
    cfg = cfg or SyntheticV2Config()
    t0 = time.time()
    train, val = video_ids_v2(cfg)
    tasks = [(cfg, i, vid, out_dir) for i, vid in enumerate(train + val)]
    results = map_videos(_make_one, tasks, workers, progress)

    ann_dir = os.path.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    counts = {}
    for split, vids in (('train', train), ('val', val)):
        res = [r for r in results if r['vid'] in set(vids)]
        rows = [row for r in res for row in r['rows']]
        write_annotation_csv(os.path.join(ann_dir, f'{split}.csv'), rows)
        write_excluded_csv(os.path.join(ann_dir, f'{split}_excluded_timestamps.csv'),
                           [k for r in res for k in r['excluded']])
        props = {k: v for r in res for k, v in r['proposals'].items()}
        write_proposals(os.path.join(ann_dir, f'proposals_{split}.pkl'), props)
        _write_moves(os.path.join(ann_dir, f'movements_{split}.csv'),
                     [m for r in res for m in r['moves']])
        _write_movement_frames(os.path.join(ann_dir, f'movement_frames_{split}.csv'),
                               [m for r in res for m in r['frame_moves']])
        clips = [(r['vid'], *c) for r in res for c in r['clips']]
        _write_clips(os.path.join(ann_dir, f'recognition_{split}.csv'), clips)
        counts[split] = dict(
            videos=len(vids), keyframes=len(props),
            boxes=len({(r.video_id, r.timestamp, r.last) for r in rows}),
            labels={name: sum(1 for row in rows if row.action_id == cid)
                    for cid, name, _ in V2_CLASSES},
            movements={m: sum(1 for r in res for x in r['moves'] if x[3] == m)
                       for m in MOVEMENTS},
            recognition_clips={a: sum(1 for c in clips if c[3] == a)
                               for a in SHORT_ACTIONS},
            excluded=sum(len(r['excluded']) for r in res),
            seconds=sum(r['seconds'] for r in res))
    write_label_map(os.path.join(ann_dir, 'label_map.pbtxt'),
                    [(cid, name) for cid, name, _ in V2_CLASSES])
    vids = train + val
    gt = dict(labels=[name for _, name, _ in V2_CLASSES],
              gttubes={v: {li: [np.array(tb.tolist(), dtype=np.float32) for tb in tbs]
                           for li, tbs in r['tubes'].items()}
                       for v, r in zip(vids, results)},
              nframes={v: r['nframes'] for v, r in zip(vids, results)},
              train_videos=[train], test_videos=[val],
              resolution={v: tuple(r['resolution']) for v, r in zip(vids, results)})
    with open(os.path.join(ann_dir, 'synthetic_gt.pkl'), 'wb') as f:
        pickle.dump(gt, f, protocol=4)
    meta = dict(format_version=FORMAT_VERSION_V2, config=cfg.to_dict(),
                classes=[dict(id=c, name=n, group=g) for c, n, g in V2_CLASSES],
                movements=list(MOVEMENTS), recognition_classes=list(SHORT_ACTIONS),
                counts=counts,
                timestamp_end=cfg.timestamp_start + cfg.video.max_seconds,
                video_seconds={v: r['seconds'] for v, r in zip(vids, results)},
                seconds_taken=round(time.time() - t0, 2))
    with open(os.path.join(ann_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    if cfg.with_flow:
        _write_flow_manifest(os.path.join(out_dir, 'flow'), cfg,
                             {v: r['nframes'] - 1 for v, r in zip(vids, results)},
                             time.time() - t0)
    return meta


def dataset_ready_v2(out_dir: str, cfg: SyntheticV2Config | None = None) -> bool:
    """True if ``out_dir`` holds a complete v2 dataset generated with ``cfg``."""
    return dataset_ready(out_dir, cfg, FORMAT_VERSION_V2)


def _content_key(cfg: SyntheticV2Config) -> dict:
    """The config without the switches that add files but change no content, as
    JSON reads it back (tuples become lists)."""
    return json.loads(json.dumps({k: v for k, v in cfg.to_dict().items()
                                  if k not in ('with_flow', 'with_video')}))


def _write_flow_manifest(flow_dir: str, cfg: SyntheticV2Config, flows: dict,
                         seconds: float) -> dict:
    man = dict(config=_content_key(cfg), layout=FLOW_LAYOUT_V2, flows=flows,
               format_version=FORMAT_VERSION_V2,
               bytes=sum(os.path.getsize(os.path.join(flow_dir, f'{v}.npz')) for v in flows),
               seconds_taken=round(seconds, 2))
    with open(os.path.join(flow_dir, FLOW_MANIFEST), 'w') as f:
        json.dump(man, f, indent=1, sort_keys=True)
    return man


def _flow_one(args) -> tuple[str, int]:
    cfg, index, vid, flow_dir = args
    video = SyntheticVideoV2(cfg.video, video_seed_v2(cfg, index))
    # the geometry of every frame is fixed when the video is built from its seed;
    # the flow does not depend on the pixel noise render() draws
    flows = [video.render(t, True)[1] for t in range(video.num_frames - 1)]
    return vid, save_flows(os.path.join(flow_dir, f'{vid}.npz'), flows, FLOW_LAYOUT_V2)


def flow_ready_v2(out_dir: str, cfg: SyntheticV2Config) -> bool:
    """True if ``out_dir/flow`` holds every video's flow of the dataset ``cfg``."""
    path = os.path.join(out_dir, 'flow', FLOW_MANIFEST)
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        man = json.load(f)
    ids = [v for split in video_ids_v2(cfg) for v in split]
    return (man.get('config') == _content_key(cfg) and man.get('layout') == FLOW_LAYOUT_V2
            and man.get('format_version') == FORMAT_VERSION_V2
            and sorted(man.get('flows', {})) == sorted(ids)
            and all(os.path.isfile(os.path.join(out_dir, 'flow', f'{v}.npz')) for v in ids))


def write_flow_v2(out_dir: str, cfg: SyntheticV2Config | None = None,
                  workers: int | None = None, progress: bool = True) -> dict:
    """Write the ground-truth flow ``flow/<video_id>.npz`` of every video of the v2
    dataset ``cfg`` in ``out_dir`` (made with or without ``with_flow``) and a
    manifest ``flow/manifest.json`` (config, layout, flows per video). The flows
    equal those ``generate_synthetic_v2(with_flow=True)`` writes. Returns the
    manifest."""
    cfg = cfg or SyntheticV2Config()
    t0 = time.time()
    flow_dir = os.path.join(out_dir, 'flow')
    os.makedirs(flow_dir, exist_ok=True)
    # a pass cut off halfway must not leave an old manifest over new files
    if os.path.isfile(os.path.join(flow_dir, FLOW_MANIFEST)):
        os.remove(os.path.join(flow_dir, FLOW_MANIFEST))
    train, val = video_ids_v2(cfg)
    tasks = [(cfg, i, vid, flow_dir) for i, vid in enumerate(train + val)]
    done = map_videos(_flow_one, tasks, workers, progress)
    return _write_flow_manifest(flow_dir, cfg, dict(done), time.time() - t0)
