"""Write the synthetic STAD benchmark to disk in the real AVA / ACT formats.

Layout under ``out_dir`` (see ``docs/synthetic_benchmark.md``)::

    rawframes/<video_id>/img_00001.jpg ...      AVA rawframe layout (RGB JPEG)
    videos/<video_id>.mp4                       optional (``with_video``)
    flow/<video_id>.npz                         optional (``with_flow``): key 'flow',
                                                float16 (T-1, H, W, 2), forward flow
                                                frame t -> t+1 in pixels, (dx, dy)
    annotations/train.csv, val.csv              video_id,timestamp,x1,y1,x2,y2,action_id,person_id
    annotations/train_excluded_timestamps.csv   video_id,timestamp (heavy occlusion)
    annotations/val_excluded_timestamps.csv
    annotations/label_map.pbtxt                 7 classes with AVA-compatible ids
    annotations/proposals_train.pkl             {'vid,TTTT': (N, 5) normalised + score}
    annotations/proposals_val.pkl
    annotations/synthetic_gt.pkl                ACT / UCF101-24 schema (labels, gttubes,
                                                nframes, train_videos, test_videos, resolution)
    annotations/meta.json                       generation parameters and counts

Keyframes sit at whole seconds ``timestamp = timestamp_start + s`` for
``s = 1 .. seconds-1`` at frame ``fps * s`` (0-based; file ``img_{fps*s+1:05d}.jpg``).
Action segments change only half-way between keyframes, so a clip of up to
``fps`` frames centred on a keyframe never straddles two actions.
"""
from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import asdict, dataclass, field

import cv2
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
from .scene import CLASS_IDS, SYNTHETIC_CLASSES
from .video import SyntheticVideo, VideoConfig, make_proposals

FORMAT_VERSION = 2


@dataclass
class SyntheticConfig:
    """Everything that determines the dataset (with the seed)."""
    seed: int = 0
    num_train: int = 32
    num_val: int = 12
    timestamp_start: int = 900
    video: VideoConfig = field(default_factory=VideoConfig)
    with_flow: bool = True
    with_video: bool = False
    jpeg_quality: int = 90

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'SyntheticConfig':
        d = dict(d)
        d['video'] = VideoConfig(**d.get('video', {}))
        return cls(**d)


def video_ids(cfg: SyntheticConfig) -> tuple[list[str], list[str]]:
    train = [f'syn_train_{i:03d}' for i in range(cfg.num_train)]
    val = [f'syn_val_{i:03d}' for i in range(cfg.num_val)]
    return train, val


def _video_seed(cfg: SyntheticConfig, index: int) -> int:
    ss = np.random.SeedSequence([cfg.seed, index])
    return int(ss.generate_state(1)[0])


def map_videos(fn, tasks: list, workers: int | None = None, progress: bool = True) -> list:
    """``[fn(t) for t in tasks]`` in task order, on ``workers`` forked processes
    (default: up to 2 cores), with mmengine's progress bar when ``progress``: the
    one per-video dispatch of the v1 and v2 generators and the v2 flow pass."""
    workers = workers or min(2, os.cpu_count() or 1)
    if progress:
        from mmengine.utils import track_parallel_progress, track_progress
        return (track_parallel_progress(fn, tasks, workers) if workers > 1
                else track_progress(fn, tasks))
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context('fork').Pool(workers) as pool:
            return pool.map(fn, tasks)
    return [fn(t) for t in tasks]


def write_frames(video, num_frames: int, cfg, vid: str, out_dir: str,
                 flow_layout: str = 'stacked') -> None:
    """Render a synthetic video (v1 or v2) to ``rawframes/<vid>/img_%05d.jpg``, and,
    when ``cfg`` asks for them, ``videos/<vid>.mp4`` and ``flow/<vid>.npz``
    (float16 forward flows in ``flow_layout``:
    :func:`~stadl_plugins.structures.flow_file.save_flows`)."""
    vc = cfg.video
    frame_dir = os.path.join(out_dir, 'rawframes', vid)
    os.makedirs(frame_dir, exist_ok=True)
    writer = None
    if cfg.with_video:
        os.makedirs(os.path.join(out_dir, 'videos'), exist_ok=True)
        writer = cv2.VideoWriter(os.path.join(out_dir, 'videos', f'{vid}.mp4'),
                                 cv2.VideoWriter_fourcc(*'mp4v'), vc.fps,
                                 (vc.width, vc.height))
    flows = []
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    for t in range(num_frames):
        img, flow = video.render(t, cfg.with_flow)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode('.jpg', bgr, params)
        assert ok
        with open(os.path.join(frame_dir, f'img_{t + 1:05d}.jpg'), 'wb') as f:
            f.write(buf.tobytes())
        if writer is not None:
            writer.write(bgr)
        if flow is not None:
            flows.append(flow.astype(np.float16))
    if writer is not None:
        writer.release()
    if flows:
        save_flows(os.path.join(out_dir, 'flow', f'{vid}.npz'), flows, flow_layout)


def action_tubes(per_frame: list, num_tracks: int, label_names: list) -> dict:
    """ACT-style tubes: maximal runs of frames where an actor carries a label.

    Args:
        per_frame: per frame, the ``Annotation`` list of ``video.annotations(t)``.

    Returns:
        ``{label index: [(L, 5) float32 frame (1-based), x1, y1, x2, y2]}``.
    """
    T = len(per_frame)
    tubes: dict[int, list[np.ndarray]] = {}
    for pid in range(num_tracks):
        for li, name in enumerate(label_names):
            run = []
            for t in range(T + 1):
                hit = None
                if t < T:
                    hit = next((a for a in per_frame[t]
                                if a.person_id == pid and name in a.labels), None)
                if hit is not None:
                    run.append([t + 1, *hit.box])
                elif run:
                    tubes.setdefault(li, []).append(np.asarray(run, np.float32))
                    run = []
    return tubes


def _make_one(args) -> dict:
    """Render one video and return its annotations (runs in a worker process)."""
    cfg, index, vid, out_dir = args
    vc = cfg.video
    seed = _video_seed(cfg, index)
    video = SyntheticVideo(vc, seed)
    write_frames(video, vc.num_frames, cfg, vid, out_dir)
    per_frame_labels = [video.annotations(t) for t in range(vc.num_frames)]

    rows, excluded, proposals = [], [], {}
    prng = np.random.default_rng(seed ^ 0x5EED)
    for s in range(1, vc.seconds):
        t = vc.fps * s
        ts = cfg.timestamp_start + s
        anns = per_frame_labels[t]
        if video.occluded(t):
            excluded.append((vid, ts))
        for a in anns:
            nb = tuple(float(v) for v in a.box / [vc.width, vc.height, vc.width,
                                                  vc.height])
            for name in a.labels:
                rows.append(AVARow(vid, ts, nb, CLASS_IDS[name], a.person_id))
        props = make_proposals(prng, [a.box for a in anns], vc.width, vc.height)
        if len(props):  # no key rather than an empty array (keyframe without people)
            proposals[img_key(vid, ts)] = props

    tubes = action_tubes(per_frame_labels, len(video.tracks),
                         [name for _, name, _ in SYNTHETIC_CLASSES])
    return dict(vid=vid, rows=rows, excluded=excluded, proposals=proposals,
                tubes=tubes, nframes=vc.num_frames,
                resolution=(vc.height, vc.width), num_actors=len(video.tracks))


def generate_synthetic(out_dir: str, cfg: SyntheticConfig | None = None,
                       workers: int | None = None, progress: bool = True) -> dict:
    """Generate the benchmark into ``out_dir`` (deterministic given ``cfg.seed``).

    Args:
        out_dir: destination folder (created).
        cfg: generation parameters; defaults give 32 train + 12 val videos of
            12 s at 10 fps, 160x120.
        workers: processes (default: up to 2). The output does not depend on it.
        progress: show a progress bar.

    Returns:
        dict: the ``meta.json`` content (parameters and counts).
    """
    cfg = cfg or SyntheticConfig()
    t0 = time.time()
    train, val = video_ids(cfg)
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
        per_class = {name: sum(1 for row in rows if row.action_id == cid)
                     for cid, name, _ in SYNTHETIC_CLASSES}
        counts[split] = dict(videos=len(vids), keyframes=len(props),
                             boxes=len({(r.video_id, r.timestamp, r.last) for r in rows}),
                             labels=per_class,
                             excluded=sum(len(r['excluded']) for r in res))
    write_label_map(os.path.join(ann_dir, 'label_map.pbtxt'),
                    [(cid, name) for cid, name, _ in SYNTHETIC_CLASSES])
    # key everything by the main process's strings (results come in task order)
    # so that the pickle's memo layout does not depend on the worker count
    vids = train + val
    gt = dict(labels=[name for _, name, _ in SYNTHETIC_CLASSES],
              gttubes={v: {li: [np.array(tb.tolist(), dtype=np.float32) for tb in tbs]
                           for li, tbs in r['tubes'].items()}
                       for v, r in zip(vids, results)},
              nframes={v: r['nframes'] for v, r in zip(vids, results)},
              train_videos=[train], test_videos=[val],
              resolution={v: tuple(r['resolution']) for v, r in zip(vids, results)})
    with open(os.path.join(ann_dir, 'synthetic_gt.pkl'), 'wb') as f:
        pickle.dump(gt, f, protocol=4)
    meta = dict(format_version=FORMAT_VERSION, config=cfg.to_dict(),
                classes=[dict(id=c, name=n, group=g) for c, n, g in SYNTHETIC_CLASSES],
                counts=counts, timestamp_end=cfg.timestamp_start + cfg.video.seconds,
                seconds_taken=round(time.time() - t0, 2))
    with open(os.path.join(ann_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


def dataset_ready(out_dir: str, cfg=None, format_version=FORMAT_VERSION) -> bool:
    """True if ``out_dir`` holds a complete dataset of ``format_version`` generated
    with ``cfg`` (any config when None)."""
    path = os.path.join(out_dir, 'annotations', 'meta.json')
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        meta = json.load(f)
    if meta.get('format_version') != format_version:
        return False
    return cfg is None or meta.get('config') == json.loads(json.dumps(cfg.to_dict()))
