"""Spatio-temporal action detection demo on a video file: annotated video + AVA CSV.

    python tools/demo/stad_demo.py VIDEO CONFIG CHECKPOINT \
        [--out-video OUT.mp4] [--out-csv OUT.csv] \
        [--detector hog | --detector mmdet DET_CONFIG DET_CHECKPOINT \
         | --detector proposals PROPOSALS.pkl] \
        [--rate 1] [--score-thr 0.3] [--device cpu] [--video-id ID] ...

Reads the video once (bounded memory), finds people with the chosen detector
(default: OpenCV's built-in HOG people detector on frames resized to a
640-px longest side, ``--det-size``, boxes mapped back; no download), links them
into tracks with smoothed boxes, classifies each tracked
person's actions on the clip around every keyframe (``--rate`` per second) with the
STAD model (any config of this toolbox + its checkpoint), and writes

* ``--out-video``: every input frame (same count and rate) with boxes, track ids
  and the top ``--top-k`` actions (score >= ``--score-thr``) of the nearest
  keyframe;
* ``--out-csv``: AVA detection rows ``video_id,timestamp,x1,y1,x2,y2,action_id,score``
  (boxes normalised to [0, 1], one row per box and action with score >=
  ``--score-thr``).

When the detector finds nobody the demo says so (``NO PERSON FOUND``) and still
writes both files (the video unannotated, the CSV without rows). Exit status 0 on
success, 2 on bad input (unreadable video, missing files).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import pickle
import sys

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='STAD demo: annotated video + AVA CSV from a video file',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('video', help='input video (mp4/avi/... anything OpenCV reads)')
    p.add_argument('config', help='STAD model config of this toolbox')
    p.add_argument('checkpoint', help='its checkpoint (.pth)')
    p.add_argument('--out-video', help='annotated video (default: '
                   'demo_out/<video name>_stad.mp4)')
    p.add_argument('--out-csv', help='AVA detection CSV (default: '
                   'demo_out/<video name>_stad.csv)')
    p.add_argument('--detector', nargs='+', default=['hog'],
                   metavar='KIND [ARGS]',
                   help='person boxes: "hog", "mmdet CONFIG CHECKPOINT" or '
                   '"proposals PKL"')
    p.add_argument('--rate', type=float, default=1.0, help='keyframes per second')
    p.add_argument('--fail-on-short-read', action='store_true',
                   help='exit 3 (after writing the outputs) when fewer frames decode '
                   'than the container reports (default: a warning, exit 0)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='minimum action score drawn and written to the CSV')
    p.add_argument('--top-k', type=int, default=3, help='actions drawn per person')
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1...')
    p.add_argument('--video-id', help='video id in the CSV (default: file name)')
    p.add_argument('--timestamp-offset', type=float, default=0.0,
                   help='seconds added to timestamps (900 for AVA 15-min cuts)')
    p.add_argument('--label-map', help='.pbtxt label map (default: the config\'s)')
    p.add_argument('--frame-interval', default='auto',
                   help='clip frame interval: "auto" rescales the config\'s to '
                   'the video fps, or an int')
    p.add_argument('--det-interval', type=int, default=3,
                   help='run the person detector every N frames (and at keyframes)')
    p.add_argument('--det-score-thr', type=float, default=None,
                   help='person detector threshold (HOG: SVM margin, default 0.5; '
                   'mmdet: score, default 0.5; proposals: default 0)')
    p.add_argument('--det-size', type=int, default=None,
                   help='HOG: frames are resized to this longest side (px) before '
                   'detection, boxes mapped back to full resolution; 0 = native '
                   'size (default 640: 1080p is downscaled 3x; see docs/demo.md)')
    p.add_argument('--clip-size', default='auto',
                   help='short side (px) of the frames the STAD model gets; '
                   '"auto": 256 when the config\'s test pipeline resizes nothing '
                   '(the synthetic configs), else as decoded; 0: as decoded')
    p.add_argument('--hog-upscale', type=float, default=None,
                   help='HOG: a fixed resize factor instead of --det-size (its '
                   'window is 64x128 px; the former default was 2)')
    p.add_argument('--track-iou', type=float, default=None,
                   help='tracker: IoU to link a detection to a track (0.3)')
    p.add_argument('--smoothing', type=float, default=None,
                   help='tracker: weight of a new detection in the box (0.5; 1 = '
                   'no smoothing)')
    p.add_argument('--min-hits', type=int, default=None,
                   help='tracker: detections before a track is shown (2)')
    p.add_argument('--max-missed', type=int, default=None,
                   help='tracker: missed detection rounds before a track ends (3)')
    p.add_argument('--out-tubes', help='also write the person tracks as a tubes '
                   'pickle (boxes per frame, action scores per keyframe) for '
                   'tools/analysis/visualize.py tubes/scores')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def build_detector(args, video_id):
    from stadl_plugins.apis import build_person_detector
    kind, rest = args.detector[0], args.detector[1:]
    thr = args.det_score_thr
    if kind == 'hog':
        if rest:
            raise ValueError(f'--detector hog takes no arguments, got {rest}')
        from stadl_plugins.apis.person_detectors import DEFAULT_DET_SIZE
        if args.hog_upscale is not None and args.det_size is not None:
            raise ValueError('give --det-size or --hog-upscale, not both')
        size = DEFAULT_DET_SIZE if args.det_size is None else args.det_size
        return build_person_detector('hog', work_size=size,
                                     upscale=args.hog_upscale,
                                     score_thr=0.5 if thr is None else thr)
    if kind == 'mmdet':
        if len(rest) != 2:
            raise ValueError('--detector mmdet needs CONFIG CHECKPOINT, got '
                             f'{rest}')
        return build_person_detector('mmdet', config=rest[0], checkpoint=rest[1],
                                     device=args.device,
                                     score_thr=0.5 if thr is None else thr)
    if kind == 'proposals':
        if len(rest) != 1:
            raise ValueError(f'--detector proposals needs one PKL, got {rest}')
        return build_person_detector('proposals', path=rest[0], video_id=video_id,
                                     score_thr=0.0 if thr is None else thr)
    raise ValueError(f'unknown --detector {kind!r}: expected hog, mmdet or proposals')


class AnnotatedVideoWriter:
    """Frame sink of :func:`detect_video`: draws and writes every frame.

    Drawing and encoding run in a background thread (OpenCV releases the GIL), so
    on a 2-core machine they overlap with decoding and person detection; at most
    ``queue_size`` frames wait. :meth:`close` waits for all of them."""

    FOURCC = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.avi': 'MJPG',
              '.mkv': 'MJPG'}

    def __init__(self, path: str, fps: float, class_names, score_thr: float,
                 top_k: int, queue_size: int = 8):
        ext = osp.splitext(path)[1].lower()
        if ext not in self.FOURCC:
            raise ValueError(f'--out-video must end with one of '
                             f'{sorted(self.FOURCC)}, got {path!r}')
        self.path, self.fps, self.fourcc = path, fps, self.FOURCC[ext]
        self.class_names, self.score_thr, self.top_k = class_names, score_thr, top_k
        self.writer = None
        self.frames = 0
        self.queue_size = queue_size
        self._queue = None
        self._thread = None
        self._error = None

    def __call__(self, index, frame, track_ids, boxes, keyframe):
        if self.writer is None:
            self._open(frame)
        if self._error is not None:
            raise self._error
        self._queue.put((index, frame, track_ids, boxes, keyframe))

    def _open(self, frame):
        import queue
        import threading

        import cv2
        if self.writer is None:
            os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(self.path,
                                          cv2.VideoWriter_fourcc(*self.fourcc),
                                          self.fps, (w, h))
            if not self.writer.isOpened():
                raise OSError(f'cannot write {self.path} with codec {self.fourcc!r} '
                              '(this OpenCV build lacks the encoder?); try .avi')
        self._queue = queue.Queue(self.queue_size)
        self._thread = threading.Thread(target=self._work, daemon=True,
                                        name='stad-demo-writer')
        self._thread.start()

    def _work(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self._write(*item)
                except Exception as exc:  # noqa: BLE001 - re-raised by the caller
                    self._error = exc

    def _write(self, index, frame, track_ids, boxes, keyframe):
        from stadl_plugins.visualization.boxes import draw_banner, draw_person_boxes
        labels = {}
        if keyframe is not None:
            for row, tid in enumerate(keyframe.track_ids):
                labels[int(tid)] = keyframe.top_labels(
                    row, self.class_names, self.top_k, self.score_thr)
        out = draw_person_boxes(frame, track_ids, boxes, labels)
        stamp = f'frame {index}'
        if keyframe is not None:
            stamp += f'  keyframe t={keyframe.time:.1f}s'
        if len(track_ids) == 0:
            stamp += '  no person'
        draw_banner(out, stamp)
        self.writer.write(out)
        self.frames += 1

    def close(self):
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.writer is not None:
            self.writer.release()
        if self._error is not None:
            raise self._error


class TubeCollector:
    """Frame sink that records every track's box on every frame (a
    :class:`~stadl_plugins.structures.track.Track` per track id, one row per
    frame it is shown on) and forwards the frame to another sink."""

    def __init__(self, forward=None):
        from stadl_plugins.structures import Track
        self.forward = forward
        self.tracks: dict[int, Track] = {}
        self._new_track = Track

    def __call__(self, index, frame, track_ids, boxes, keyframe):
        for tid, box in zip(track_ids, boxes):
            track = self.tracks.get(int(tid))
            if track is None:
                track = self.tracks[int(tid)] = self._new_track(track_id=int(tid))
            track.append(index, box)
        if self.forward is not None:
            self.forward(index, frame, track_ids, boxes, keyframe)

    def tubes(self, result) -> dict:
        """The tubes pickle: boxes per frame + per-keyframe action scores."""
        per_track = {}
        for kf in result.keyframes:
            for row, tid in enumerate(kf.track_ids):
                t, s = per_track.setdefault(int(tid), ([], []))
                t.append(kf.time)
                s.append(kf.scores[row])
        tubes = []
        for tid in sorted(self.tracks):
            track = self.tracks[tid]
            tube = dict(id=tid, frame_inds=track.frames, boxes=track.boxes)
            if tid in per_track:
                times, scores = per_track[tid]
                scores = np.stack(scores).astype(np.float32)
                best = int(scores.mean(0).argmax())
                tube.update(keyframe_times=np.array(times, np.float64),
                            keyframe_scores=scores,
                            label=result.class_names[best],
                            score=float(scores.mean(0)[best]))
            tubes.append(tube)
        return dict(video=result.info.path, video_id=result.video_id,
                    fps=result.info.fps, class_names=list(result.class_names),
                    class_ids=np.asarray(result.class_ids), tubes=tubes)


def count_frames(path: str) -> int:
    """Frames that decode from a written video (reads it through)."""
    import cv2
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def main(argv=None):
    args = parse_args(argv)
    from stadl_plugins.apis import (
        IoUTracker,
        PersonDetectorError,
        STADInferencer,
        VideoReadError,
        detect_video,
        open_video,
    )
    from stadl_plugins.datasets.ava_io import write_detection_csv
    stem = osp.splitext(osp.basename(args.video))[0]
    out_video = args.out_video or osp.join('demo_out', f'{stem}_stad.mp4')
    out_csv = args.out_csv or osp.join('demo_out', f'{stem}_stad.csv')
    video_id = args.video_id or stem
    try:
        cap, info, _ = open_video(args.video)  # fail early, before loading models
        cap.release()
        for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{what} not found: {path}')
        detector = build_detector(args, video_id)
        interval = (args.frame_interval if args.frame_interval == 'auto'
                    else int(args.frame_interval))
        clip_size = args.clip_size if args.clip_size == 'auto' else int(
            args.clip_size)
        inferencer = STADInferencer(args.config, args.checkpoint, device=args.device,
                                    label_map=args.label_map,
                                    frame_interval=interval)
    except (VideoReadError, FileNotFoundError, PersonDetectorError,
            ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    tracker_cfg = dict(getattr(detector, 'tracker_defaults', {}))
    for key, val in (('iou_thr', args.track_iou), ('smoothing', args.smoothing),
                     ('min_hits', args.min_hits), ('max_missed', args.max_missed)):
        if val is not None:
            tracker_cfg[key] = val
    writer = AnnotatedVideoWriter(out_video, info.fps, inferencer.class_names,
                                  args.score_thr, args.top_k)
    sink = TubeCollector(writer) if args.out_tubes else writer
    print(f'[stad_demo] {args.video}: {info.width}x{info.height}, {info.fps:.2f} fps, '
          f'~{info.num_frames} frames; detector {args.detector[0]}, model '
          f'{osp.basename(args.config)} ({len(inferencer.class_names)} classes, '
          f'clip {inferencer.clip_len}x{inferencer.interval_for(info.fps)})',
          flush=True)
    try:
        result = detect_video(args.video, inferencer, detector, rate=args.rate,
                              det_interval=args.det_interval,
                              tracker=IoUTracker(**tracker_cfg), video_id=video_id,
                              timestamp_offset=args.timestamp_offset,
                              frame_sink=sink, progress=not args.no_progress,
                              clip_size=clip_size)
    except (VideoReadError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    finally:
        writer.close()
    rows = result.csv_rows(args.score_thr)
    write_detection_csv(out_csv, rows)
    written = count_frames(out_video)
    if args.out_tubes:
        os.makedirs(osp.dirname(osp.abspath(args.out_tubes)), exist_ok=True)
        with open(args.out_tubes, 'wb') as f:
            pickle.dump(sink.tubes(result), f, protocol=4)
        print(f'[stad_demo] wrote {len(sink.tracks)} tubes to {args.out_tubes}')
    print(result.summary())
    print(f'[stad_demo] wrote {out_video} ({written} frames; input '
          f'{result.frames_read}) and {out_csv} ({len(rows)} rows, timestamps in '
          f'{result.timestamp_unit}s, score >= {args.score_thr})')
    if result.decode_warning:
        print(f'warning: {result.decode_warning}', file=sys.stderr)
        if args.fail_on_short_read:
            return 3
    if written != result.frames_read:
        print(f'warning: the written video decodes to {written} frames, the input '
              f'had {result.frames_read}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
