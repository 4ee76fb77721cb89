"""One synthetic video: layout, rendering, per-frame labels, proposals.

:func:`make_video` is a pure function of ``(config, video_id, seed)``: the same
arguments always give the same frames, labels and proposals, whatever process runs
it, which is what makes the whole dataset reproducible under multiprocessing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...structures.bbox import pairwise_iou
from .scene import (
    ActorSpec,
    ActorTrack,
    Pose,
    Segment,
    Texture,
    actor_margin,
    half_second_boundaries,
    paint_disc,
    paint_ellipse,
    paint_limb,
    paint_square,
    random_timeline,
    render_background,
    shift_pose,
)


@dataclass
class VideoConfig:
    """Rendering parameters shared by every video of a dataset."""
    width: int = 160
    height: int = 120
    fps: int = 10
    seconds: int = 12
    max_actors: int = 3
    pair_prob: float = 0.5          # chance that a multi-actor video stages a talk_to
    carry_prob: float = 0.5         # chance that a walk segment carries an object
    pan_prob: float = 0.3           # chance of a global camera pan
    max_pan_speed: float = 0.6      # px / frame
    max_distractors: int = 3        # static objects lying around
    noise_std: float = 2.0          # sensor noise, grey levels
    talk_gap: float = 8.0           # px between boxes for talk_to
    occlusion_iou: float = 0.4      # keyframes with two boxes above this are excluded
    min_visible: float = 0.6        # fraction of a box inside the frame to annotate it

    @property
    def num_frames(self) -> int:
        return self.fps * self.seconds


@dataclass
class Annotation:
    """One person box at one frame with its action names."""
    frame: int            # 0-based frame index
    person_id: int
    box: np.ndarray       # (4,) px, clipped to the frame
    labels: list[str]


def _reflect(x: float, lo: float, hi: float) -> float:
    """Fold ``x`` back into ``[lo, hi]`` like a ball bouncing between walls."""
    span = hi - lo
    y = (x - lo) % (2 * span)
    return lo + (y if y <= span else 2 * span - y)


def _free_x(rng: np.random.Generator, lo: float, hi: float, half: float,
            taken: list[tuple[float, float]], tries: int = 20) -> float:
    """A start position that keeps clear of the actors already placed, if possible."""
    x = float(rng.uniform(lo, hi))
    for _ in range(tries):
        if all(abs(x - tx) > half + th + 2 for tx, th in taken):
            break
        x = float(rng.uniform(lo, hi))
    taken.append((x, half))
    return x


def _random_actor(rng: np.random.Generator, cfg: VideoConfig) -> ActorSpec:
    scale = cfg.height / 120.0
    b = float(rng.uniform(13, 18)) * scale
    return ActorSpec(body=Texture.random(rng), head_colour=rng.uniform(30, 230, 3),
                     limb_colour=rng.uniform(30, 230, 3), a=b * float(rng.uniform(0.45, 0.6)),
                     b=b, limb_side=int(rng.choice([-1, 1])),
                     limb_len=b * float(rng.uniform(0.7, 0.9)),
                     carried=Texture.random(rng),
                     carried_size=float(rng.uniform(6, 10)) * scale,
                     carry_side=int(rng.choice([-1, 1])))


class SyntheticVideo:
    """Layout and state of one video; call :meth:`render` per frame."""

    def __init__(self, cfg: VideoConfig, seed: int):
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        T, H, W = cfg.num_frames, cfg.height, cfg.width
        # camera pan: screen = world - pan_t
        self.pan = np.zeros((T + 1, 2))
        if rng.random() < cfg.pan_prob:
            v = rng.uniform(0.2, cfg.max_pan_speed) * rng.choice([-1, 1])
            vy = rng.uniform(-0.15, 0.15)
            self.pan = np.outer(np.arange(T + 1), [v, vy])
        self.pan -= self.pan.min(axis=0)
        margin = np.ceil(self.pan.max(axis=0)).astype(int) + 2
        self.world_w, self.world_h = W + margin[0], H + margin[1]
        self.background = render_background(rng, self.world_h, self.world_w)

        n = int(rng.integers(1, cfg.max_actors + 1))
        specs = [_random_actor(rng, cfg) for _ in range(n)]
        staged_pair = n >= 2 and rng.random() < cfg.pair_prob
        self.tracks: list[ActorTrack] = []
        taken: list[tuple[float, float]] = []  # (x, half width) of placed actors
        for i, spec in enumerate(specs):
            lo = actor_margin(spec)
            hi = self.world_w - lo
            ground = float(rng.uniform(0.45, 0.8)) * H
            x0 = _free_x(rng, lo, hi, spec.a + spec.limb_len, taken)
            if staged_pair and i == 0:
                spec.segments = [Segment('stand', 0, T)]
                x0 = float(rng.uniform(0.3, 0.7)) * self.world_w
                taken[-1] = (x0, spec.a + spec.limb_len)
                self._pair_anchor = (x0, ground, spec)
                self.tracks.append(ActorTrack(spec, rng, x0, ground, T, self.world_w))
            elif staged_pair and i == 1:
                self.tracks.append(self._staged_partner(rng, spec, lo, hi))
            else:
                spec.segments = random_timeline(rng, cfg.fps, T, cfg.carry_prob)
                self.tracks.append(ActorTrack(spec, rng, x0, ground, T, self.world_w))
        # draw far (small y) actors first
        self.draw_order = sorted(range(n), key=lambda k: self.tracks[k].frames[0].body.y)
        self.distractors = []
        for _ in range(int(rng.integers(0, cfg.max_distractors + 1))):
            size = float(rng.uniform(6, 10)) * H / 120.0
            self.distractors.append((Pose(float(rng.uniform(5, self.world_w - 5)),
                                          float(rng.uniform(0.5, 0.95)) * H),
                                     size, Texture.random(rng)))
        self.noise_rng = np.random.default_rng(rng.integers(2**31))

    def _staged_partner(self, rng, spec: ActorSpec, lo: float, hi: float) -> ActorTrack:
        """Actor that walks up to the anchor, stands next to it (talk_to), walks off."""
        cfg, T = self.cfg, self.cfg.num_frames
        xa, ground, anchor = self._pair_anchor
        bounds = half_second_boundaries(cfg.fps, T)
        # stand for 3-5 s somewhere in the middle of the video
        i1 = int(rng.integers(1, max(2, len(bounds) - 6)))
        i2 = min(len(bounds) - 1, i1 + int(rng.integers(3, 6)))
        s1, s2 = bounds[i1], bounds[i2]
        side = int(rng.choice([-1, 1]))
        # bodies a few pixels apart: the boxes (arms included) touch or overlap
        dist = anchor.a + spec.a + float(rng.uniform(2, cfg.talk_gap - 2))
        x_stand = xa + side * dist
        if not lo <= x_stand <= hi:
            side, x_stand = -side, xa - side * dist
        v_in, v_out = (float(rng.uniform(1.5, 2.5)) for _ in range(2))
        fixed = []
        for t in range(T):
            if t < s1:
                x = x_stand + side * v_in * (s1 - t)
            elif t < s2:
                x = x_stand
            else:
                x = x_stand + side * v_out * (t - s2)
            fixed.append(_reflect(x, lo, hi))
        spec.segments = [Segment('walk', 0, s1), Segment('stand', s1, s2),
                         Segment('walk', s2, T)]
        return ActorTrack(spec, rng, x_stand, ground + float(rng.uniform(-2, 2)), T,
                          self.world_w, fixed_x=fixed)

    # ------------------------------------------------------------------ rendering
    def render(self, t: int, with_flow: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame ``t`` as uint8 ``(H, W, 3)`` RGB and the forward flow ``t -> t+1``.

        Returns:
            tuple: image, and flow ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels or
            None when ``with_flow`` is False or ``t`` is the last frame.
        """
        import cv2
        cfg = self.cfg
        H, W = cfg.height, cfg.width
        ox, oy = self.pan[t]
        nx, ny = self.pan[t + 1]
        m = np.float32([[1, 0, -ox], [0, 1, -oy]])
        canvas = cv2.warpAffine(self.background, m, (W, H), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
        flow = None
        want_flow = with_flow and t + 1 < cfg.num_frames
        if want_flow:
            flow = np.empty((H, W, 2), np.float32)
            flow[..., 0], flow[..., 1] = ox - nx, oy - ny
        for pose, size, tex in self.distractors:
            paint_square(canvas, flow, shift_pose(pose, ox, oy),
                         shift_pose(pose, nx, ny) if want_flow else None, size, tex)
        for k in self.draw_order:
            tr = self.tracks[k]
            f0 = tr.frames[t]
            f1 = tr.frames[t + 1] if want_flow else None
            spec = tr.spec

            def pair(get):
                p0 = shift_pose(get(f0), ox, oy)
                p1 = shift_pose(get(f1), nx, ny) if f1 is not None else None
                return p0, p1

            paint_ellipse(canvas, flow, *pair(lambda f: f.body), spec.a, spec.b, spec.body)
            paint_disc(canvas, flow, *pair(lambda f: f.head), 0.55 * spec.a,
                       spec.head_colour)
            paint_limb(canvas, flow, *pair(lambda f: f.limb), spec.limb_len,
                       spec.limb_colour)
            if f0.obj is not None:
                p0, p1 = pair(lambda f: f.obj)
                if f1 is not None and f1.obj is None:  # carry ends: object stays
                    p1 = Pose(p0.x - (nx - ox), p0.y - (ny - oy))
                paint_square(canvas, flow, p0, p1, spec.carried_size, spec.carried)
        if cfg.noise_std > 0:
            canvas += self.noise_rng.normal(0, cfg.noise_std, canvas.shape).astype(
                np.float32)
        img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        return img, flow

    # ------------------------------------------------------------------ labels
    def annotations(self, t: int) -> list[Annotation]:
        """Visible actors at frame ``t`` with boxes (px) and action names."""
        cfg = self.cfg
        ox, oy = self.pan[t]
        items = []
        for k, tr in enumerate(self.tracks):
            f = tr.frames[t]
            box = f.box(tr.spec) - np.array([ox, oy, ox, oy])
            clipped = np.clip(box, 0, [cfg.width, cfg.height, cfg.width, cfg.height])
            area = (box[2] - box[0]) * (box[3] - box[1])
            vis = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
            if area <= 0 or vis / area < cfg.min_visible:
                continue
            labels = [f.action] + (['carry'] if f.carry else [])
            items.append(Annotation(t, k, clipped, labels))
        standing = [a for a in items if 'stand' in a.labels]
        for a in standing:
            for b in standing:
                if a is b:
                    continue
                gap = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])
                ov = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
                hmin = min(a.box[3] - a.box[1], b.box[3] - b.box[1])
                if gap <= cfg.talk_gap and ov >= 0.5 * hmin:
                    if 'talk_to' not in a.labels:
                        a.labels.append('talk_to')
        return items

    def occluded(self, t: int) -> bool:
        """Whether two annotated boxes overlap so much that the frame is ambiguous."""
        return boxes_overlap([a.box for a in self.annotations(t)],
                             self.cfg.occlusion_iou)


def boxes_overlap(boxes: list, thr: float) -> bool:
    """Whether any two of the ``[x1, y1, x2, y2]`` boxes have IoU above ``thr``."""
    if len(boxes) < 2:
        return False
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return bool((np.triu(pairwise_iou(b, b), 1) > thr).any())


def make_proposals(rng: np.random.Generator, gts: list[np.ndarray], w: int, h: int,
                   recall: float = 0.95, fp_rate: float = 0.7) -> np.ndarray:
    """Detector-like person proposals for one keyframe.

    Each GT box is found with probability ``recall`` (jittered by ~6% of its size,
    score in [0.9, 1)), at least one when there are any; Poisson(``fp_rate``) false
    positives of person-like size
    get scores in [0.3, 0.97), so some pass a 0.9 score threshold.

    Returns:
        np.ndarray: ``(N, 5)`` float32 ``[x1, y1, x2, y2, score]`` normalised to [0, 1].
    """
    rows = []
    found = rng.random(len(gts)) <= recall
    if len(gts) and not found.any():
        # never an empty array where there are people: stock AVADataset cannot
        # take one (max() of an empty score column)
        found[int(rng.integers(len(gts)))] = True
    for g, hit in zip(gts, found):
        if not hit:
            continue
        bw, bh = g[2] - g[0], g[3] - g[1]
        j = g + rng.normal(0, 0.06, 4) * np.array([bw, bh, bw, bh])
        rows.append([*j, rng.uniform(0.9, 1.0)])
    for _ in range(int(rng.poisson(fp_rate))):
        bh = rng.uniform(0.25, 0.45) * h
        bw = bh * rng.uniform(0.4, 0.7)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        rows.append([x1, y1, x1 + bw, y1 + bh, rng.uniform(0.3, 0.97)])
    if not rows:
        return np.zeros((0, 5), np.float32)
    arr = np.asarray(rows, dtype=np.float64)
    arr[:, :4] /= np.array([w, h, w, h])
    arr[:, :4] = np.clip(arr[:, :4], 0, 1)
    arr[:, 2] = np.maximum(arr[:, 2], arr[:, 0] + 1e-3)
    arr[:, 3] = np.maximum(arr[:, 3], arr[:, 1] + 1e-3)
    arr[:, :4] = np.clip(arr[:, :4], 0, 1)
    return arr.astype(np.float32)
