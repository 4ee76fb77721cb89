"""Person detector quality and demo speed on the shared clips, at native size and 1080p.

    # recall / precision at IoU 0.5 on the hand-labelled keyframes
    # (tests/data/person_keyframes.json), per detector setting, on the native
    # frames and on the frames upscaled to 1080p (what a 1080p camera would give)
    python tools/demo/bench_person_detectors.py quality [--settings hog@2x hog:640 ...]

    # wall time of tools/demo/stad_demo.py on 1080p copies of the clips, the old
    # defaults (--hog-upscale 2, model on full-resolution clips: --clip-size 0)
    # and the new ones (--det-size 640 --clip-size auto) side by side
    python tools/demo/bench_person_detectors.py speed [--frames 90] [--work-dir DIR] \
        [--extra "NAME=ARGS" ...]

A setting is ``hog@F`` (HOG on frames upscaled F times, the former default is
``hog@2``), ``hog:N`` (HOG on frames resized to longest side N px, ``hog:0``: native)
or ``mmdet:CONFIG,CHECKPOINT`` (an MMDetection detector, person score >= 0.5, e.g.
the RTMDet-tiny of docs/demo.md once downloaded).
Matching: detections by decreasing score, each to the unmatched labelled person of
highest IoU >= 0.5; a detection on an ``ignore`` box (IoU >= 0.5) counts neither
way. The STAD model of ``speed`` is the quickstart config, freshly initialised (its
weights do not change the cost).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
LABELS = osp.join(REPO, 'tests', 'data', 'person_keyframes.json')
VIDEOS = osp.join(os.environ.get('STADL_SHARED_DATA',
                                  osp.join(osp.dirname(REPO), 'shared', 'data')),
                  'videos')
QUICKSTART = osp.join(REPO, 'configs', 'baseline',
                      'slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py')


def build(setting: str):
    from stadl_plugins.apis.person_detectors import build_person_detector
    kind, _, arg = setting.replace('@', ':@').partition(':')
    if kind == 'hog':
        if arg.startswith('@'):
            return build_person_detector('hog', upscale=float(arg[1:]))
        return build_person_detector('hog', work_size=int(arg or 640))
    if kind == 'mmdet':
        config, checkpoint = arg.split(',')
        return build_person_detector('mmdet', config=config, checkpoint=checkpoint,
                                     score_thr=0.5)
    raise ValueError(f'unknown setting {setting!r}')


def match(det: np.ndarray, people, ignore, thr: float = 0.5):
    """(tp, fp, fn) of detections ``(N, 5)`` against labelled boxes."""
    from stadl_plugins.apis.person_detectors import box_iou
    people = np.asarray(people, np.float32).reshape(-1, 4)
    ignore = np.asarray(ignore, np.float32).reshape(-1, 4)
    order = np.argsort(-det[:, 4], kind='stable')
    used = np.zeros(len(people), bool)
    tp = fp = 0
    for i in order:
        iou = box_iou(det[i:i + 1, :4], people)[0] if len(people) else np.zeros(0)
        iou = np.where(used, -1, iou)
        if len(iou) and iou.max() >= thr:
            used[int(iou.argmax())] = True
            tp += 1
        elif len(ignore) and box_iou(det[i:i + 1, :4], ignore).max() >= thr:
            continue
        else:
            fp += 1
    return tp, fp, int((~used).sum())


def keyframes(video: str, indices, height: int | None):
    import cv2
    cap = cv2.VideoCapture(osp.join(VIDEOS, video))
    out, i = {}, 0
    while len(out) < len(indices):
        ok, frame = cap.read()
        if not ok:
            break
        if i in indices:
            if height:
                w = int(round(frame.shape[1] * height / frame.shape[0] / 2)) * 2
                frame = cv2.resize(frame, (w, height), interpolation=cv2.INTER_CUBIC)
            out[i] = frame
        i += 1
    cap.release()
    return out


def quality(args):
    with open(LABELS) as f:
        labels = json.load(f)['videos']
    print('| setting | video | size | TP | FP | FN | recall | precision | '
          'ms / detection |')
    print('|---|---|---|---|---|---|---|---|---|')
    totals = {}
    for height in (None, 1080):
        for video, spec in labels.items():
            frames = keyframes(video, {int(k) for k in spec['frames']}, height)
            sx = frames[0].shape[1] / spec['size'][0]
            sy = frames[0].shape[0] / spec['size'][1]
            scale = np.array([sx, sy, sx, sy], np.float32)
            for setting in args.settings:
                if height and '@' in setting and float(setting.split('@')[1]) > 1:
                    continue  # HOG at 2x 1080p: 3840x2160, seconds per frame
                det = build(setting)
                tp = fp = fn = 0
                times = []
                for k, lab in spec['frames'].items():
                    frame = frames[int(k)]
                    t0 = time.perf_counter()
                    boxes = det(frame)
                    times.append(time.perf_counter() - t0)
                    a, b, c = match(boxes, np.asarray(lab['people']) * scale,
                                    np.asarray(lab['ignore']).reshape(-1, 4) * scale)
                    tp, fp, fn = tp + a, fp + b, fn + c
                tot = totals.setdefault((setting, height), [0, 0, 0])
                tot[0] += tp
                tot[1] += fp
                tot[2] += fn
                size = 'x'.join(map(str, frames[0].shape[1::-1]))
                print(f'| {setting} | {video} | {size} | {tp} | {fp} | {fn} | '
                      f'{tp / max(tp + fn, 1):.2f} | {tp / max(tp + fp, 1):.2f} | '
                      f'{1000 * np.median(times):.0f} |', flush=True)
    for (setting, height), (tp, fp, fn) in totals.items():
        print(f'| {setting} | both | {"1080p" if height else "native"} | {tp} | {fp} '
              f'| {fn} | {tp / max(tp + fn, 1):.2f} | {tp / max(tp + fp, 1):.2f} | |')


def make_video(src: str, dst: str, frames: int, height: int = 1080) -> str:
    import cv2
    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        w = int(round(frame.shape[1] * height / frame.shape[0] / 2)) * 2
        frame = cv2.resize(frame, (w, height), interpolation=cv2.INTER_CUBIC)
        if writer is None:
            writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                     (w, height))
        writer.write(frame)
    cap.release()
    writer.release()
    return dst


def make_checkpoint(work_dir: str):
    import torch
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

    import stadl_plugins  # noqa: F401
    from stadl_plugins.datasets.ava_io import write_label_map
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(QUICKSTART).model)
    ckpt = osp.join(work_dir, 'untrained.pth')
    save_checkpoint(dict(meta=dict(epoch=0),
                         state_dict=weights_to_cpu(model.state_dict())), ckpt)
    label_map = osp.join(work_dir, 'label_map.pbtxt')
    write_label_map(label_map, [(4, 'spin'), (7, 'jump'), (12, 'stand'),
                                (14, 'walk'), (17, 'carry'), (69, 'wave'),
                                (79, 'talk_to')])
    return ckpt, label_map


def speed(args):
    os.makedirs(args.work_dir, exist_ok=True)
    ckpt, label_map = make_checkpoint(args.work_dir)
    runs = [('old default', ['--hog-upscale', '2', '--clip-size', '0']),
            ('new default', [])] + [(name, extra.split()) for name, extra in
                                    (r.split('=', 1) for r in args.extra)]
    print('| video | frames | setting | wall s (demo, incl. model load) | '
          'processing s | x real time |')
    print('|---|---|---|---|---|---|')
    for video in ('test_video_structuralize.mp4', 'demo.mp4'):
        clip = make_video(osp.join(VIDEOS, video),
                          osp.join(args.work_dir, video.replace('.mp4', '_1080p.mp4')),
                          args.frames)
        for name, extra in runs:
            cmd = [sys.executable, osp.join(REPO, 'tools', 'demo', 'stad_demo.py'),
                   clip, QUICKSTART, ckpt, '--label-map', label_map, '--no-progress',
                   '--out-video', osp.join(args.work_dir, 'out.mp4'),
                   '--out-csv', osp.join(args.work_dir, 'out.csv'), *extra]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                raise SystemExit(proc.returncode)
            # the summary line: "...: N frames at F fps, K keyframes, ..., T s"
            line = next(ln for ln in proc.stdout.splitlines()
                        if ' frames at ' in ln and ln.endswith(' s'))
            n = int(line.split(': ')[-1].split(' frames')[0])
            fps = float(line.split(' frames at ')[1].split(' fps')[0])
            proc_s = float(line.rsplit(', ', 1)[1][:-2])
            print(f'| {video} (1080p) | {n} | {name} `{" ".join(extra)}` | {wall:.1f} '
                  f'| {proc_s:.1f} | {proc_s / (n / fps):.2f} |', flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    q = sub.add_parser('quality', help='recall/precision on labelled keyframes')
    q.add_argument('--settings', nargs='+',
                   default=['hog@2', 'hog@1', 'hog:480', 'hog:640', 'hog:852'],
                   help='detector settings: hog@F, hog:N or mmdet:CONFIG,CHECKPOINT')
    s = sub.add_parser('speed', help='demo wall time on 1080p copies')
    s.add_argument('--frames', type=int, default=60,
                   help='frames of each clip (the old default costs ~3 s a frame)')
    s.add_argument('--extra', nargs='*', default=[], metavar='NAME=ARGS',
                   help='more runs, e.g. "det-size 852=--det-size 852"')
    s.add_argument('--work-dir', default='/tmp/stad_demo_bench',
                   help='folder for the 1080p copies and the demo outputs')
    args = p.parse_args(argv)
    quality(args) if args.cmd == 'quality' else speed(args)


if __name__ == '__main__':
    main()
