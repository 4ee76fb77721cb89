"""The video demo: person detection + tracking, streaming STAD inference, outputs.

Real data: ../shared/data/videos/test_video_structuralize.mp4 (gym, full-body
players) and demo.mp4 (close-up arm wrestling). The STAD model is the quickstart
config with freshly initialised weights saved as a Runner-style checkpoint: what is
tested is the pipeline (sampling, buffering, loading, outputs), not accuracy.
"""
import importlib.util
import os
import os.path as osp
import pickle
import re

import cv2
import numpy as np
import pytest
import torch
from helpers import QUICKSTART_CONFIG, REPO, shared

from stadl_plugins.apis import (
    HOGPersonDetector,
    IoUTracker,
    PersonDetectorError,
    ProposalFilePersonDetector,
    STADInferencer,
    VideoReadError,
    box_iou,
    detect_video,
    nms_boxes,
)
from stadl_plugins.datasets.ava_io import read_ava_csv, write_label_map

GYM = 'test_video_structuralize.mp4'
# Person boxes read off the gym clip by eye (426x240 frames), x1, y1, x2, y2.
GYM_PEOPLE = {
    0: [(222, 112, 265, 232), (78, 117, 132, 240)],
    100: [(192, 120, 225, 195), (285, 115, 340, 239)],
    200: [(182, 110, 220, 200), (242, 102, 263, 183)],
}
SYNTH_LABELS = [(4, 'spin'), (7, 'jump'), (12, 'stand'), (14, 'walk'), (17, 'carry'),
                (69, 'wave'), (79, 'talk_to')]


def _load_demo_module():
    spec = importlib.util.spec_from_file_location(
        'stad_demo', osp.join(REPO, 'tools', 'demo', 'stad_demo.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_frames(path, indices=None):
    cap = cv2.VideoCapture(path)
    out, i = {}, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if indices is None or i in indices:
            out[i] = frame
        i += 1
    cap.release()
    return out, i


def cut_video(src, dst, start, count, fourcc='mp4v'):
    """Copy frames [start, start + count) of ``src`` into ``dst`` with OpenCV."""
    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer, i, n = None, 0, 0
    while n < count:
        ok, frame = cap.read()
        if not ok:
            break
        if i >= start:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*fourcc), fps,
                                         (w, h))
            writer.write(frame)
            n += 1
        i += 1
    cap.release()
    writer.release()
    return dst


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    """A Runner-style checkpoint (state_dict + meta + message hub with a
    HistoryBuffer) of the quickstart model, freshly initialised, with a marker
    bias so that loading can be checked."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(QUICKSTART_CONFIG).model)
    with torch.no_grad():
        model.roi_head.bbox_head.fc_cls.bias.fill_(0.25)
    root = tmp_path_factory.mktemp('demo_ckpt')
    path = str(root / 'tiny.pth')
    save_checkpoint(dict(meta=dict(epoch=1, seed=0),
                         state_dict=weights_to_cpu(model.state_dict()),
                         message_hub=dict(log_scalars=dict(
                             loss=HistoryBuffer(np.array([0.5, 0.4]),
                                                   np.array([1, 1]))))), path)
    label_map = str(root / 'label_map.pbtxt')
    write_label_map(label_map, SYNTH_LABELS)
    return path, label_map


@pytest.fixture(scope='module')
def gym_cut(tmp_path_factory):
    """Frames 90..149 (2 s) of the gym clip: both players visible."""
    dst = str(tmp_path_factory.mktemp('gym') / 'gymcut.mp4')
    return cut_video(shared('videos', GYM), dst, 90, 60)


# --------------------------------------------------------------------- detection
def test_hog_finds_the_players_on_gym_frames():
    frames, _ = read_frames(shared('videos', GYM), set(GYM_PEOPLE))
    det = HOGPersonDetector()  # defaults: 640-px working size (1.5x), margin >= 0.5
    for idx, people in GYM_PEOPLE.items():
        boxes = det(frames[idx])
        assert boxes.shape[1] == 5 and len(boxes) >= 1, idx
        iou = box_iou(boxes[:, :4], np.array(people, np.float32))
        # at least one detection is on a player (by the eye-read boxes)
        assert iou.max() >= 0.45, (idx, boxes, iou)
        h, w = frames[idx].shape[:2]
        assert (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()


def test_hog_at_native_scale_finds_nobody_on_the_closeup():
    frames, _ = read_frames(shared('videos', 'demo.mp4'), {0, 100, 200})
    det = HOGPersonDetector(upscale=1.0)
    for idx, frame in frames.items():
        assert len(det(frame)) == 0, idx


class _RecordingDetector:
    """A detector stub: records the frame shape it is given and returns fixed boxes
    in that frame's pixels."""
    name = 'stub'
    keyframes_only = False
    tracker_defaults = dict(min_hits=1)

    def __init__(self, boxes):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
        self.shapes = []

    def __call__(self, frame, frame_index=0, timestamp=0.0):
        self.shapes.append(frame.shape)
        return None if frame_index < 0 else self.boxes.copy()


def test_detection_scale_is_the_working_size_over_the_longest_side():
    from stadl_plugins.apis.person_detectors import DEFAULT_DET_SIZE, detection_scale
    assert DEFAULT_DET_SIZE == 640
    assert detection_scale((1080, 1920, 3), 640) == pytest.approx(1 / 3)
    assert detection_scale((1920, 1080, 3), 640) == pytest.approx(1 / 3)  # portrait
    assert detection_scale((240, 426, 3), 640) == pytest.approx(640 / 426)
    assert detection_scale((240, 426, 3), 0) == detection_scale((240, 426), None) == 1
    assert detection_scale((1080, 1920), 640, upscale=2) == 2.0  # fixed factor wins
    with pytest.raises(ValueError):
        detection_scale((10, 10), -1)
    with pytest.raises(ValueError):
        detection_scale((10, 10), 640, upscale=0)


def test_resized_detector_returns_full_resolution_boxes():
    from stadl_plugins.apis.person_detectors import ResizedDetector
    stub = _RecordingDetector([[64, 36, 128, 108, 0.9], [600, 300, 700, 400, 0.4]])
    det = ResizedDetector(stub, work_size=640)
    assert (det.name, det.keyframes_only, det.tracker_defaults) == \
        ('stub', False, dict(min_hits=1))
    frame = np.zeros((1080, 1920, 3), np.uint8)
    boxes = det(frame, 0, 0.0)
    assert stub.shapes == [(360, 640, 3)]  # the detector saw the downscaled frame
    # x3 back to 1080p; the second box is clipped to the frame (W - 1, H - 1)
    np.testing.assert_allclose(boxes, [[192, 108, 384, 324, 0.9],
                                       [1800, 900, 1919, 1079, 0.4]], rtol=1e-6)
    assert det(frame, -1, 0.0) is None  # "not run here" passes through
    # a small frame is upscaled; odd sizes use the exact per-axis factors
    stub.shapes.clear()
    boxes = det(np.zeros((241, 427, 3), np.uint8))
    (h, w, _), = stub.shapes
    assert (w, h) == (640, round(241 * 640 / 427))
    np.testing.assert_allclose(boxes[0, :4], [64 * 427 / w, 36 * 241 / h,
                                              128 * 427 / w, 108 * 241 / h],
                               rtol=1e-5)
    # work_size 0: the frame as is
    stub.shapes.clear()
    np.testing.assert_allclose(ResizedDetector(stub, work_size=0)(frame)[0],
                               [64, 36, 128, 108, 0.9])
    assert stub.shapes == [(1080, 1920, 3)]


def test_hog_maps_its_boxes_from_the_working_size(monkeypatch):
    """HOGPersonDetector with detect_native stubbed: it sees the frame resized to
    the working size and its boxes come back in full-resolution pixels."""
    seen = []

    def fake(self, img):
        seen.append(img.shape)
        return np.array([[100, 50, 164, 178, 1.2]], np.float32)

    monkeypatch.setattr(HOGPersonDetector, 'detect_native', fake)
    boxes = HOGPersonDetector()(np.zeros((1080, 1920, 3), np.uint8))
    assert seen == [(360, 640, 3)]
    np.testing.assert_allclose(boxes, [[300, 150, 492, 534, 1.2]], rtol=1e-6)
    boxes = HOGPersonDetector(upscale=2)(np.zeros((240, 426, 3), np.uint8))
    assert seen[-1] == (480, 852, 3)
    np.testing.assert_allclose(boxes, [[50, 25, 82, 89, 1.2]], rtol=1e-6)


def test_hog_on_a_1080p_frame_finds_the_players_in_full_resolution():
    """Gym frame 0 upscaled to 1916x1080: the default working size (640) finds both
    players, boxes in 1080p pixels; they are HOG's boxes on the 640-px frame x 3."""
    from stadl_plugins.apis.person_detectors import resize_for_detection
    frames, _ = read_frames(shared('videos', GYM), {0})
    big = cv2.resize(frames[0], (1916, 1080), interpolation=cv2.INTER_CUBIC)
    det = HOGPersonDetector()
    boxes = det(big)
    scale = np.array([1916 / 426, 1080 / 240] * 2, np.float32)
    people = np.array(GYM_PEOPLE[0], np.float32) * scale
    iou = box_iou(boxes[:, :4], people)
    assert (iou.max(0) >= 0.5).all(), (boxes, iou)  # both players
    assert (boxes[:, [0, 2]] <= 1915).all() and (boxes[:, [1, 3]] <= 1079).all()
    small, sx, sy = resize_for_detection(big, 640 / 1916)
    assert small.shape[:2] == (361, 640)
    native = nms_boxes(det.detect_native(small), det.nms_iou)
    expected = (native[:, :4] / [sx, sy, sx, sy]).clip(0, [1915, 1079] * 2)
    np.testing.assert_allclose(boxes[:, :4], expected, rtol=1e-5)


def test_box_iou_and_nms_against_naive():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (12, 2))
    a = np.concatenate([xy, xy + rng.uniform(5, 30, (12, 2))], 1)
    b = a[::-1] + rng.normal(0, 3, a.shape)
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)

    def naive(p, q):
        iw = max(0, min(p[2], q[2]) - max(p[0], q[0]))
        ih = max(0, min(p[3], q[3]) - max(p[1], q[1]))
        inter = iw * ih
        return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1])
                        - inter)

    ref = np.array([[naive(p, q) for q in b] for p in a])
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-9)
    dets = np.array([[0, 0, 10, 20, 0.9], [1, 1, 11, 21, 0.8], [30, 0, 40, 20, 0.7]],
                    np.float32)
    kept = nms_boxes(dets, 0.4)
    np.testing.assert_allclose(kept, dets[[0, 2]])


def test_tracker_ids_smoothing_and_confirmation():
    tr = IoUTracker(iou_thr=0.3, smoothing=0.5, min_hits=2, max_missed=1)
    a = np.array([[0, 0, 10, 20, 1.0]], np.float32)
    assert tr.update(a) == []                                  # tentative
    tracks = tr.update(a + [2, 0, 2, 0, 0])                    # confirmed: id 1
    assert [t.track_id for t in tracks] == [1]
    np.testing.assert_allclose(tracks[0].box, [1, 0, 11, 20])  # 0.5 old + 0.5 new
    # a one-off false positive elsewhere never gets an id
    tracks = tr.update(np.concatenate([a + [4, 0, 4, 0, 0],
                                       [[100, 100, 110, 120, 1.0]]]))
    assert [t.track_id for t in tracks] == [1]
    np.testing.assert_allclose(tracks[0].box, [2.5, 0, 12.5, 20])
    tr.update(np.zeros((0, 5)))                                 # missed once: kept
    ids, boxes = tr.state()
    assert ids.tolist() == [1] and np.allclose(boxes[0], [2.5, 0, 12.5, 20])
    tr.update(np.zeros((0, 5)))                                 # missed twice: gone
    assert tr.state()[0].tolist() == []
    # smoothing=1 follows detections exactly
    raw = IoUTracker(smoothing=1.0, min_hits=1)
    raw.update(a)
    np.testing.assert_allclose(raw.update(a + [3, 1, 3, 1, 0])[0].box, [3, 1, 13, 21])
    with pytest.raises(ValueError, match='smoothing'):
        IoUTracker(smoothing=0)


def test_proposal_file_detector(tmp_path):
    path = str(tmp_path / 'props.pkl')
    with open(path, 'wb') as f:
        pickle.dump({'vid,0001': np.array([[0.1, 0.2, 0.5, 0.9, 0.95],
                                           [0.6, 0.1, 0.9, 0.8, 0.2]], np.float32),
                     'other,0001': np.zeros((1, 5), np.float32)}, f)
    det = ProposalFilePersonDetector(path, 'vid', score_thr=0.5)
    frame = np.zeros((100, 200, 3), np.uint8)
    np.testing.assert_allclose(det(frame, 30, 1.0), [[20, 20, 100, 90, 0.95]],
                               rtol=1e-6)
    assert det(frame, 31, 1.03) is None       # not a whole second: no lookup
    assert det(frame, 60, 2.0).shape == (0, 5)
    with pytest.raises(PersonDetectorError, match="no proposals for video id 'nope'"):
        ProposalFilePersonDetector(path, 'nope')


# ---------------------------------------------------------------------- inference
def test_inferencer_loads_weights_and_samples_like_the_test_pipeline(tiny_checkpoint):
    from mmaction.datasets.transforms import SampleAVAFrames
    ckpt, label_map = tiny_checkpoint
    inf = STADInferencer(QUICKSTART_CONFIG, ckpt, label_map=label_map)
    bias = inf.model.roi_head.bbox_head.fc_cls.bias
    assert torch.allclose(bias, torch.full_like(bias, 0.25))
    assert inf.class_ids.tolist() == [c for c, _ in SYNTH_LABELS]
    assert inf.class_names == [n for _, n in SYNTH_LABELS]
    # at the training fps (10) the clip is exactly SampleAVAFrames' (test mode)
    sampler = SampleAVAFrames(clip_len=4, frame_interval=2, test_mode=True)
    ref = sampler(dict(fps=10, timestamp=905, timestamp_start=900,
                       total_frames=1000))['frame_inds']
    np.testing.assert_array_equal(50 + inf.clip_offsets(10.0), ref)
    # on a 30 fps video the interval is rescaled to cover the same 0.8 s
    np.testing.assert_array_equal(inf.clip_offsets(29.97), [-12, -6, 0, 6])
    assert STADInferencer(QUICKSTART_CONFIG, None, label_map=label_map,
                          frame_interval=3).clip_offsets(30).tolist() == [-6, -3, 0, 3]
    # predictions: normalised boxes = the given boxes, scores in [0, 1]
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    boxes, scores = inf.predict(clip, np.array([[8, 4, 40, 44], [30, 10, 60, 40]]))
    np.testing.assert_allclose(boxes, [[8 / 64, 4 / 48, 40 / 64, 44 / 48],
                                       [30 / 64, 10 / 48, 60 / 64, 40 / 48]],
                               rtol=1e-5)
    assert scores.shape == (2, 7) and ((scores >= 0) & (scores <= 1)).all()


def _stad_configs():
    """Every synthetic STAD config of the toolbox (stock, ATR, PWC-Net necks,
    HST-LSTM, VideoLSTM, the ACT-format variant...), whoever added it; the clip
    recognition configs are not STAD models."""
    import glob
    return [p for p in sorted(glob.glob(osp.join(REPO, 'configs', '*', '*synthetic*.py')))
            if 'recognition' not in osp.basename(p) and 'synthetic-v2' not in p
            and 'pretrain' not in osp.basename(p) and '/reclnet/' not in p]


@pytest.mark.parametrize('config', _stad_configs(), ids=osp.basename)
def test_every_stad_config_runs(config, tiny_checkpoint):
    """Any toolbox STAD config, freshly initialised, through the inferencer."""
    _, label_map = tiny_checkpoint
    act = 'act' in osp.basename(config)
    if act:  # class i+1 = labels[i] of the ACT GT pickle, here as a text list
        label_map = str(osp.join(osp.dirname(label_map), 'act_labels.txt'))
        with open(label_map, 'w') as f:
            f.write('\n'.join(n for _, n in SYNTH_LABELS) + '\n')
    inf = STADInferencer(config, None, label_map=label_map)
    if act:
        assert inf.class_ids.tolist() == list(range(1, 8))
    assert inf.class_names == [n for _, n in SYNTH_LABELS]
    clip = [np.full((64, 80, 3), 60 + 10 * t, np.uint8) for t in range(inf.clip_len)]
    boxes, scores = inf.predict(clip, np.array([[8, 4, 40, 60]]))
    assert boxes.shape == (1, 4) and scores.shape == (1, 7)
    assert np.isfinite(scores).all()


TINY_MMDET_CONFIG = """\
# A tiny RetinaNet (ResNet-18 at width 8) with classes (person, ball): random
# weights, so it "detects" anything; the wiring is what is tested.
default_scope = 'mmdet'
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=8, num_stages=4,
                  out_indices=(1, 2, 3), frozen_stages=-1, norm_eval=False,
                  norm_cfg=dict(type='BN', requires_grad=True), style='pytorch', init_cfg=None),
    neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=16, start_level=0,
              add_extra_convs='on_input', num_outs=3),
    bbox_head=dict(type='RetinaHead', num_classes=2, in_channels=16, stacked_convs=1,
                   feat_channels=16,
                   anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                         scales_per_octave=1, ratios=[0.5, 1.0, 2.0],
                                         strides=[8, 16, 32]),
                   bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                                   target_stds=[1.0, 1.0, 1.0, 1.0]),
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                                 loss_weight=1.0),
                   loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=None,
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor'))]
test_dataloader = dict(dataset=dict(type='CocoDataset', pipeline=test_pipeline,
                                    metainfo=dict(classes=('person', 'ball'))))
"""


@pytest.fixture(scope='module')
def tiny_mmdet(tmp_path_factory):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint
    root = tmp_path_factory.mktemp('mmdet')
    cfg_path = root / 'tiny_retinanet.py'
    cfg_path.write_text(TINY_MMDET_CONFIG)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = str(root / 'tiny_retinanet.pth')
    save_checkpoint(dict(state_dict=model.state_dict(),
                         meta=dict(dataset_meta=dict(classes=('person', 'ball')))),
                    ckpt)
    return str(cfg_path), ckpt


def test_mmdet_detector_keeps_the_person_class(tiny_mmdet, gym_cut):
    from mmdet.apis import inference_detector

    from stadl_plugins.apis import MMDetPersonDetector
    frame = read_frames(gym_cut, {0})[0][0]
    det = MMDetPersonDetector(*tiny_mmdet, score_thr=0.3)
    assert det.person_label == 0
    got = det(frame)
    pred = inference_detector(det.model, frame).pred_instances
    keep = (pred.labels == 0) & (pred.scores >= 0.3)
    ref = np.concatenate([pred.bboxes[keep].numpy(), pred.scores[keep, None].numpy()], 1)
    assert len(ref) and len(ref) < len(pred.labels)  # some boxes are dropped
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    ball = MMDetPersonDetector(*tiny_mmdet, score_thr=0.3, person_class='ball')
    assert ball.person_label == 1
    with pytest.raises(PersonDetectorError, match="'cat' is not among"):
        MMDetPersonDetector(*tiny_mmdet, person_class='cat')


class FixedBoxDetector:
    """A person detector returning one box, wherever it is asked."""
    name = 'fixed'
    tracker_defaults = dict(min_hits=1)

    def __init__(self):
        self.calls = []

    def __call__(self, frame, index, timestamp):
        self.calls.append(index)
        return np.array([[8, 6, 40, 40, 1.0]], np.float32)


def test_streaming_is_bounded_and_feeds_the_right_frames(tmp_path, tiny_checkpoint):
    """A 10 s video whose frames encode their index: the clips the model gets are
    the sampled ones, every frame reaches the sink once in order, and the buffer
    stays small whatever the length."""
    _, label_map = tiny_checkpoint
    path = str(tmp_path / 'counter.avi')
    n, fps = 300, 30.0
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps, (64, 48))
    for i in range(n):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[..., 0] = (i % 32) * 8
        frame[..., 1] = (i // 32) * 12
        writer.write(frame)
    writer.release()

    def decode(frame_rgb):  # RGB order: channel 2 holds the BGR blue
        return int(round(frame_rgb[..., 2].mean() / 8)) + \
            32 * int(round(frame_rgb[..., 1].mean() / 12))

    class Recording(STADInferencer):
        clips = []

        def predict(self, frames_rgb, boxes, meta=None):
            self.clips.append([decode(f) for f in frames_rgb])
            return super().predict(frames_rgb, boxes, meta)

    inf = Recording(QUICKSTART_CONFIG, None, label_map=label_map)
    sunk = []
    det = FixedBoxDetector()
    res = detect_video(path, inf, det, rate=1.0, det_interval=5,
                       frame_sink=lambda i, f, ids, b, kf: sunk.append(
                           (i, kf.index if kf else None, len(ids))),
                       progress=False)
    assert res.frames_read == n and [s[0] for s in sunk] == list(range(n))
    assert len(res.keyframes) == 10 and res.timestamp_unit == 'second'
    assert [k.csv_timestamp for k in res.keyframes] == list(range(10))
    offsets = np.array([-12, -6, 0, 6])  # 4 frames, interval 2 at 10 fps -> 6
    for k, clip in enumerate(Recording.clips):
        assert clip == np.clip(30 * k + offsets, 0, n - 1).tolist(), k
    # each frame is shown with its nearest keyframe
    assert all(kf == min(round(i / 30), 9) for i, kf, _ in sunk)
    # buffer: clip span (18) + half a keyframe step (15) + slack, not the video
    assert res.max_buffered_frames <= 12 + 6 + 15 + 2
    assert set(det.calls) == set(range(0, n, 5)) | set(range(0, n, 30))
    assert res.found_person and all(s[2] == 1 for s in sunk)


def test_clips_are_downscaled_for_the_model_with_their_boxes(tmp_path,
                                                            tiny_checkpoint):
    """clip_size: the model gets frames with that short side and the boxes scaled
    with them; 'auto' is 256 for a config whose test pipeline resizes nothing."""
    from stadl_plugins.apis.inference import _clip_short_side
    _, label_map = tiny_checkpoint
    path = str(tmp_path / 'grey.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 30.0, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 4 * i, np.uint8))
    writer.release()

    class Recording(STADInferencer):
        seen = []

        def predict(self, frames_rgb, boxes, meta=None):
            self.seen.append(([f.shape for f in frames_rgb], boxes.copy()))
            return super().predict(frames_rgb, boxes, meta)

    inf = Recording(QUICKSTART_CONFIG, None, label_map=label_map)
    assert _clip_short_side(inf, 'auto') == 256  # the synthetic pipeline: no resize
    assert _clip_short_side(inf, None) == _clip_short_side(inf, 0) == 0
    with pytest.raises(ValueError):
        _clip_short_side(inf, 'big')
    res = {}
    for size in (0, 24):
        Recording.seen.clear()
        res[size] = detect_video(path, inf, FixedBoxDetector(), rate=1.0,
                                 progress=False, clip_size=size)
        shapes, boxes = Recording.seen[0]
        if size:
            assert set(shapes) == {(24, 32, 3)}
            np.testing.assert_allclose(boxes, [[4, 3, 20, 20]])  # (8, 6, 40, 40) / 2
        else:
            assert set(shapes) == {(48, 64, 3)}
            np.testing.assert_allclose(boxes, [[8, 6, 40, 40]])
    # normalised output boxes do not depend on the model's frame size
    np.testing.assert_allclose(res[24].keyframes[0].boxes, res[0].keyframes[0].boxes,
                               atol=1e-6)
    # 'auto' leaves these small frames alone (short side 48 < 256)
    Recording.seen.clear()
    detect_video(path, inf, FixedBoxDetector(), rate=1.0, progress=False)
    assert set(Recording.seen[0][0]) == {(48, 64, 3)}


# ---------------------------------------------------------------------- the CLI
def test_demo_on_the_gym_clip(gym_cut, tiny_checkpoint, tmp_path, capsys):
    ckpt, label_map = tiny_checkpoint
    demo = _load_demo_module()
    out_video, out_csv = str(tmp_path / 'out.mp4'), str(tmp_path / 'out.csv')
    out_tubes = str(tmp_path / 'tubes.pkl')
    rc = demo.main([gym_cut, QUICKSTART_CONFIG, ckpt, '--out-video', out_video,
                    '--out-csv', out_csv, '--label-map', label_map, '--rate', '1',
                    '--score-thr', '0.3', '--out-tubes', out_tubes, '--no-progress'])
    out = capsys.readouterr().out
    assert rc == 0, out
    frames, count = read_frames(out_video, {0})
    assert count == 60 and frames[0].shape == (240, 426, 3)
    assert 'NO PERSON FOUND' not in out and 'person track(s)' in out
    from stadl_plugins.evaluation.submission import validate_ava_submission
    report = validate_ava_submission(out_csv, label_map=label_map)
    rows = read_ava_csv(out_csv, with_score=True)
    assert report.num_rows == len(rows) > 0
    assert {r.video_id for r in rows} == {'gymcut'}
    assert {r.timestamp for r in rows} <= {0, 1}
    assert all(0.3 <= r.last <= 1 for r in rows)
    # the tracks as tubes, drawn by the visualization CLI from the video
    with open(out_tubes, 'rb') as f:
        tubes = pickle.load(f)
    assert tubes['class_names'] == [n for _, n in SYNTH_LABELS] and tubes['tubes']
    for tube in tubes['tubes']:
        assert len(tube['frame_inds']) == len(tube['boxes'])
    scored = [t for t in tubes['tubes'] if 'keyframe_scores' in t]
    assert scored and scored[0]['keyframe_scores'].shape[1] == 7
    spec = importlib.util.spec_from_file_location(
        'visualize', osp.join(REPO, 'tools', 'analysis', 'visualize.py'))
    vis = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vis)
    assert vis.main(['tubes', out_tubes, '--num-frames', '4', '--ncols', '4',
                     '--out', str(tmp_path / 'tubes.png')]) == 0
    assert cv2.imread(str(tmp_path / 'tubes.png')).shape == (240, 4 * 426 + 3 * 2, 3)
    assert vis.main(['scores', out_tubes, '--track', str(scored[0]['id']),
                     '--threshold', '0.5', '--out', str(tmp_path / 's.png')]) == 0
    # the annotated frame differs from the input where boxes are drawn
    src, _ = read_frames(gym_cut, {30})
    drawn, _ = read_frames(out_video, {30})
    assert np.abs(src[30].astype(int) - drawn[30].astype(int)).mean() > 1.0


def test_demo_with_an_mmdet_detector(gym_cut, tiny_checkpoint, tiny_mmdet, tmp_path,
                                     capsys):
    ckpt, label_map = tiny_checkpoint
    demo = _load_demo_module()
    out_video, out_csv = str(tmp_path / 'm.mp4'), str(tmp_path / 'm.csv')
    rc = demo.main([gym_cut, QUICKSTART_CONFIG, ckpt, '--detector', 'mmdet',
                    *tiny_mmdet, '--det-score-thr', '0.6', '--det-interval', '10',
                    '--out-video', out_video, '--out-csv', out_csv, '--label-map',
                    label_map, '--no-progress'])
    out = capsys.readouterr().out
    assert rc == 0 and 'detector: mmdet' in out
    assert read_frames(out_video, set())[1] == 60
    from stadl_plugins.evaluation.submission import validate_ava_submission
    assert validate_ava_submission(out_csv, label_map=label_map).num_rows > 0


def test_demo_says_when_nobody_is_found(tmp_path, tiny_checkpoint, capsys):
    """Close-up clip: at native scale HOG finds nobody (at 2x it fires on a bottle
    and on background legs, see HOGPersonDetector). Outputs are still written."""
    ckpt, label_map = tiny_checkpoint
    clip = cut_video(shared('videos', 'demo.mp4'), str(tmp_path / 'closeup.mp4'),
                     0, 45)
    demo = _load_demo_module()
    out_video, out_csv = str(tmp_path / 'o.mp4'), str(tmp_path / 'o.csv')
    rc = demo.main([clip, QUICKSTART_CONFIG, ckpt, '--out-video', out_video,
                    '--out-csv', out_csv, '--label-map', label_map,
                    '--hog-upscale', '1', '--no-progress'])
    out = capsys.readouterr().out
    assert rc == 0
    assert 'NO PERSON FOUND' in out and 'found nobody in any of the 45 frames' in out
    assert read_frames(out_video, set())[1] == 45
    assert osp.isfile(out_csv) and read_ava_csv(out_csv, with_score=True) == []


def test_demo_det_size_and_hog_upscale_exclude_each_other(gym_cut, tiny_checkpoint,
                                                         tmp_path, capsys):
    ckpt, label_map = tiny_checkpoint
    demo = _load_demo_module()
    args = demo.parse_args([gym_cut, QUICKSTART_CONFIG, ckpt])
    det = demo.build_detector(args, 'x')
    assert (det.work_size, det.upscale) == (640, None)  # the default policy
    det = demo.build_detector(demo.parse_args(
        [gym_cut, QUICKSTART_CONFIG, ckpt, '--det-size', '0']), 'x')
    assert (det.work_size, det.upscale) == (0, None)
    det = demo.build_detector(demo.parse_args(
        [gym_cut, QUICKSTART_CONFIG, ckpt, '--hog-upscale', '2']), 'x')
    assert det.upscale == 2.0
    rc = demo.main([gym_cut, QUICKSTART_CONFIG, ckpt, '--det-size', '640',
                    '--hog-upscale', '2', '--out-video', str(tmp_path / 'a.mp4'),
                    '--no-progress'])
    assert rc == 2 and 'not both' in capsys.readouterr().err


def test_demo_rejects_unreadable_files(tmp_path, gym_cut, tiny_checkpoint, capsys):
    ckpt, _ = tiny_checkpoint
    bad = tmp_path / 'not_a_video.mp4'
    bad.write_text('hello')
    demo = _load_demo_module()
    assert demo.main([str(bad), QUICKSTART_CONFIG, ckpt, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'not_a_video.mp4' in err and 'error:' in err
    with pytest.raises(VideoReadError, match='no such file'):
        detect_video(str(tmp_path / 'missing.mp4'), None, None)
    assert demo.main([gym_cut, QUICKSTART_CONFIG, ckpt, '--detector', 'yolo']) == 2
    assert "unknown --detector 'yolo'" in capsys.readouterr().err
    assert demo.main([gym_cut, QUICKSTART_CONFIG, str(tmp_path / 'no.pth')]) == 2
    assert 'checkpoint not found' in capsys.readouterr().err


def test_demo_warns_on_a_truncated_video(tmp_path, tiny_checkpoint, capsys):
    """A truncated MJPG AVI decodes about half the frames its index reports: the
    demo still writes its outputs but warns (exit 3 with --fail-on-short-read)."""
    ckpt, label_map = tiny_checkpoint
    path = str(tmp_path / 'truncated.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (48, 64, 3), np.uint8))
    writer.release()
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    demo = _load_demo_module()
    args = [path, QUICKSTART_CONFIG, ckpt, '--out-video', str(tmp_path / 'o.mp4'),
            '--out-csv', str(tmp_path / 'o.csv'), '--label-map', label_map,
            '--no-progress']
    with pytest.warns(UserWarning, match='frames the container reports'):
        assert demo.main(args) == 0
    captured = capsys.readouterr()
    assert re.search(rf'warning: {re.escape(path)}: only \d+ of the 40 frames the '
                     'container reports could be decoded', captured.err), captured.err
    assert 'WARNING: ' in captured.out
    with pytest.warns(UserWarning):
        assert demo.main(args + ['--fail-on-short-read']) == 3
