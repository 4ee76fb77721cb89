"""Synthetic benchmark v2: scenes in which each method's mechanism is *necessary*.

Compared with v1 (``scene.py`` / ``video.py``, still the quickstart's data):

* **long tracks**: videos of ``min_seconds``-``max_seconds`` (30-60 s); one
  designated *active* actor performs short (1-2 s) actions between 2-5 s of
  standing or walking, the other actors only stand, walk, carry and listen;
* **motion classes** (``spin``, ``jump``, ``wave``, ``walk``, ``stand``): told
  only by motion inside the box, appearance is random as in v1;
* **temporal-order pair** (``sway_then_twirl`` / ``twirl_then_sway``): 2 s made of
  the same two 1 s sub-movements (body sway, arm twirl) in opposite order; the
  switch is half-way between the two keyframes, so a clip of <= 1 s centred on a
  keyframe sees a single sub-movement and cannot tell the pair apart;
* **context classes** with look-alike negatives: ``carry`` (an object travelling
  with a walking actor, outside its box; negative: the same kind of object
  *passing* a walking actor at a different velocity, its closest approach put at
  a keyframe at the carry distance) and ``listen_to`` (standing still next to a
  standing actor who nods, i.e. talks; negative: a static actor-like *mannequin*
  standing as close, never annotated and never proposed);
* **camera pan always on**: a smooth back-and-forth pan (amplitude 10-30 px,
  period 5-12 s, up to ~3 px/frame), so absolute image motion says nothing;
* a **video-level recognition set**: clips around each short action of the
  active actor, labelled with that action while the distractors stand or walk.

Every shape stays rigid between two frames, so the ground-truth flow is exact
(the same painters as v1). Everything is a pure function of ``(config, seed)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .scene import (
    ActorFrame,
    ActorSpec,
    Pose,
    Texture,
    half_second_boundaries,
    paint_disc,
    paint_ellipse,
    paint_limb,
    paint_square,
    render_background,
    shift_pose,
)
from .video import Annotation, _random_actor, boxes_overlap

#: (AVA-compatible id, name, v2 group). Groups: ``motion`` (inside the box),
#: ``order`` (inside the box, temporal order only), ``context`` (outside the box).
V2_CLASSES: tuple[tuple[int, str, str], ...] = (
    (3, 'sway_then_twirl', 'order'),
    (4, 'spin', 'motion'),
    (7, 'jump', 'motion'),
    (9, 'twirl_then_sway', 'order'),
    (12, 'stand', 'motion'),
    (14, 'walk', 'motion'),
    (17, 'carry', 'context'),
    (69, 'wave', 'motion'),
    (80, 'listen_to', 'context'),
)
V2_CLASS_IDS = {name: cid for cid, name, _ in V2_CLASSES}
V2_GROUPS = {g: [n for _, n, gg in V2_CLASSES if gg == g]
             for g in ('motion', 'order', 'context')}
#: short actions of the active actor (also the recognition set's classes)
SHORT_ACTIONS = ('spin', 'jump', 'wave', 'sway_then_twirl', 'twirl_then_sway')
ORDER_PAIRS = {'sway_then_twirl': ('sway', 'twirl'),
               'twirl_then_sway': ('twirl', 'sway')}
#: per-frame movements (what the body does), the pretraining labels
MOVEMENTS = ('stand', 'walk', 'spin', 'jump', 'wave', 'sway', 'twirl', 'nod')


@dataclass
class VideoConfigV2:
    """Rendering parameters shared by every v2 video."""
    width: int = 160
    height: int = 120
    fps: int = 10
    min_seconds: int = 30
    max_seconds: int = 60
    keyframe_margin: int = 2        # s without keyframes at each end (clip room)
    min_distractors: int = 1        # other actors besides the active one
    max_distractors: int = 3
    background_seconds: tuple = (2, 5)  # stand/walk between two short actions
    anchor_prob: float = 0.8        # a distractor that stands the whole video
    pair_prob: float = 0.8          # ... that a partner comes to talk to
    mannequin_prob: float = 0.8     # ... with a static mannequin on the other side
    carry_prob: float = 0.4         # a walk segment carries an object
    passer_prob: float = 0.5        # a walk segment without carry gets a passer
    carry_gap: tuple = (3.0, 12.0)  # px between the arm's reach and the object
    pan_amplitude: tuple = (10.0, 30.0)   # px
    pan_period: tuple = (5.0, 12.0)       # s
    max_static_objects: int = 3
    noise_std: float = 2.0
    talk_gap: float = 6.0           # px between boxes for listen_to
    nod_amp: float = 3.0            # px
    occlusion_iou: float = 0.4
    min_visible: float = 0.6

    def seconds_of(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.min_seconds, self.max_seconds + 1))


@dataclass
class SegV2:
    """One stretch of an actor's timeline: the label it carries and the movement."""
    label: str
    movement: str
    start: int
    end: int
    carry: bool = False


@dataclass
class TrackV2:
    spec: ActorSpec
    segments: list[SegV2]
    frames: list[ActorFrame] = field(default_factory=list)
    movements: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    active: bool = False
    role: str = 'distractor'        # active | distractor | anchor | speaker


def _cuts(fps: int, T: int) -> list[int]:
    return [0] + half_second_boundaries(fps, T) + [T]


def active_timeline(rng: np.random.Generator, cfg: VideoConfigV2, T: int,
                    carry_prob: float) -> list[SegV2]:
    """Background (stand/walk, 2-5 s) alternating with 1-2 s short actions."""
    cuts = _cuts(cfg.fps, T)
    n = len(cuts) - 1  # number of half-second-aligned slots
    segs, i, short_next = [], 0, False
    lo, hi = cfg.background_seconds
    while i < n:
        if short_next:
            act = str(rng.choice(SHORT_ACTIONS))
            if act in ORDER_PAIRS:
                if i + 2 > n or cuts[i + 2] - cuts[i] != 2 * cfg.fps:
                    short_next = False  # needs two whole 1 s slots
                    continue
                a, b = ORDER_PAIRS[act]
                segs.append(SegV2(act, a, cuts[i], cuts[i + 1]))
                segs.append(SegV2(act, b, cuts[i + 1], cuts[i + 2]))
                i += 2
            else:
                j = min(n, i + int(rng.integers(1, 3)))
                segs.append(SegV2(act, act, cuts[i], cuts[j]))
                i = j
        else:
            j = min(n, i + int(rng.integers(lo, hi + 1)))
            mv = str(rng.choice(['stand', 'walk']))
            carry = mv == 'walk' and bool(rng.random() < carry_prob)
            segs.append(SegV2(mv, mv, cuts[i], cuts[j], carry))
            i = j
        short_next = not short_next
    return segs


def distractor_timeline(rng: np.random.Generator, cfg: VideoConfigV2, T: int,
                        carry_prob: float) -> list[SegV2]:
    """Stand / walk segments of 2-6 s (walks may carry)."""
    cuts = _cuts(cfg.fps, T)
    n = len(cuts) - 1
    segs, i = [], 0
    while i < n:
        j = min(n, i + int(rng.integers(2, 7)))
        mv = str(rng.choice(['stand', 'walk'], p=[0.4, 0.6]))
        carry = mv == 'walk' and bool(rng.random() < carry_prob)
        segs.append(SegV2(mv, mv, cuts[i], cuts[j], carry))
        i = j
    return segs


def _limb_angle(spec: ActorSpec, a: float) -> float:
    return a if spec.limb_side > 0 else math.pi - a


def carry_reach(spec: ActorSpec, gap: float) -> float:
    """Centre distance of a carried object: arm's reach + gap + half the object."""
    return spec.a + spec.limb_len + gap + spec.carried_size / 2


def integrate_track(tr: TrackV2, rng: np.random.Generator, x0: float, ground: float,
                    T: int, lo: float, hi: float, carry_gap: float,
                    nod_amp: float, fixed_x: list[float] | None = None) -> None:
    """Per-frame poses of a track (world coordinates), movements and labels."""
    spec = tr.spec
    x, phi = x0, float(rng.uniform(0, 2 * math.pi))
    params: dict[int, dict] = {}
    k = 0
    reach = carry_reach(spec, carry_gap)
    for t in range(T):
        while tr.segments[k].end <= t:
            k += 1
        seg = tr.segments[k]
        if k not in params:
            params[k] = dict(
                v=float(rng.choice([-1, 1]) * rng.uniform(1.5, 2.5)),
                omega=float(rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)),
                amp_jump=float(rng.uniform(7, 11)),
                period_jump=float(rng.uniform(7, 10)),
                limb_static=float(rng.uniform(-1.75, 1.75)),
                limb_mid=float(rng.uniform(-1.4, -0.4)),
                limb_amp=float(rng.uniform(0.6, 0.9)),
                period_wave=float(rng.uniform(5, 7)),
                sway_amp=float(rng.uniform(4, 6)),
                sway_period=float(rng.uniform(6, 8)),
                twirl=float(rng.choice([-1, 1]) * rng.uniform(0.5, 0.7)),
                twirl0=float(rng.uniform(-math.pi, math.pi)),
                nod_period=float(rng.uniform(5, 7)))
        p = params[k]
        tt = t - seg.start
        mv = seg.movement
        y = ground
        if fixed_x is not None:
            x = fixed_x[t]
        elif mv == 'walk':
            if tt > 0:
                x += p['v']
            if x < lo or x > hi:
                p['v'] = -p['v']
                x = float(np.clip(x, lo, hi))
        bx = x
        if mv == 'jump':
            y = ground - p['amp_jump'] * abs(math.sin(math.pi * tt / p['period_jump']))
        if mv == 'spin':
            phi += p['omega']
        if mv == 'sway':
            bx = x + p['sway_amp'] * math.sin(2 * math.pi * tt / p['sway_period'])
        if mv == 'wave':
            limb = p['limb_mid'] + p['limb_amp'] * math.sin(
                2 * math.pi * tt / p['period_wave'])
        elif mv == 'twirl':
            limb = p['twirl0'] + p['twirl'] * tt
        else:
            limb = p['limb_static']
        head_dy = 0.0
        if mv == 'nod':
            head_dy = nod_amp * 0.5 * (1 - math.cos(2 * math.pi * tt / p['nod_period']))
        shoulder = Pose(bx + spec.limb_side * 0.7 * spec.a, y - 0.6 * spec.b,
                        _limb_angle(spec, limb))
        head = Pose(bx, y - spec.b - 0.55 * spec.a + 1.0 + head_dy)
        obj = Pose(bx + spec.carry_side * reach, y) if seg.carry else None
        tr.frames.append(ActorFrame(Pose(bx, y, phi), head, shoulder, obj,
                                    seg.label, seg.carry))
        tr.movements.append(mv)
        tr.labels.append(seg.label)


@dataclass
class Passer:
    """An object moving on its own past a walking actor (carry look-alike)."""
    tex: Texture
    size: float
    y: float
    x_at: float        # world x at frame t_at
    t_at: int
    v: float
    t0: int
    t1: int            # painted for t0 <= t < t1

    def pose(self, t: int) -> Pose:
        return Pose(self.x_at + self.v * (t - self.t_at), self.y)


class SyntheticVideoV2:
    """Layout and state of one v2 video; :meth:`render` per frame."""

    def __init__(self, cfg: VideoConfigV2, seed: int):
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        self.seconds = cfg.seconds_of(rng)
        T, H, W = self.num_frames, cfg.height, cfg.width
        # pan always on: screen = world - pan_t, smooth back and forth
        ax = float(rng.uniform(*cfg.pan_amplitude))
        ay = float(rng.uniform(0, 3))
        per = float(rng.uniform(*cfg.pan_period)) * cfg.fps
        ph = float(rng.uniform(0, 2 * math.pi))
        tt = np.arange(T + 1)
        self.pan = np.stack([ax * (1 + np.sin(2 * math.pi * tt / per + ph)),
                             ay * (1 + np.sin(2 * math.pi * tt / (1.7 * per) + ph))], 1)
        margin = np.ceil(self.pan.max(axis=0)).astype(int) + 2
        self.world_w, self.world_h = W + margin[0], H + margin[1]
        self.background = render_background(rng, self.world_h, self.world_w)
        # the region that is on screen at every pan position
        vis_lo, vis_hi = float(self.pan[:, 0].max()), float(self.pan[:, 0].min()) + W

        n_dis = int(rng.integers(cfg.min_distractors, cfg.max_distractors + 1))
        specs = [_random_actor(rng, cfg) for _ in range(1 + n_dis)]
        self.tracks: list[TrackV2] = []
        self.mannequins: list[tuple[ActorSpec, ActorFrame]] = []
        gaps = {}

        def bounds(spec):
            m = spec.a + spec.limb_len + 3 + spec.carried_size + cfg.carry_gap[1]
            return max(m, vis_lo + spec.a), min(self.world_w - m, vis_hi - spec.a)

        def ground():
            return float(rng.uniform(0.45, 0.8)) * H

        # the active actor
        spec = specs[0]
        lo, hi = bounds(spec)
        tr = TrackV2(spec, active_timeline(rng, cfg, T, cfg.carry_prob), active=True,
                     role='active')
        gaps[0] = float(rng.uniform(*cfg.carry_gap))
        integrate_track(tr, rng, float(rng.uniform(lo, hi)), ground(), T, lo, hi,
                        gaps[0], cfg.nod_amp)
        self.tracks.append(tr)
        rest = list(range(1, 1 + n_dis))
        if rest and rng.random() < cfg.anchor_prob:
            ia = rest.pop(0)
            spec = specs[ia]
            lo, hi = bounds(spec)
            xa, ga = float(rng.uniform(lo, hi)), ground()
            anchor = TrackV2(spec, [SegV2('stand', 'stand', 0, T)], role='anchor')
            integrate_track(anchor, rng, xa, ga, T, lo, hi, 5.0, cfg.nod_amp)
            self.tracks.append(anchor)
            side = int(rng.choice([-1, 1]))
            if rest and rng.random() < cfg.pair_prob:
                ip = rest.pop(0)
                self.tracks.append(self._speaker(rng, specs[ip], anchor, xa, ga, side,
                                                 *bounds(specs[ip])))
            if rng.random() < cfg.mannequin_prob:
                m = _random_actor(rng, cfg)
                dist = spec.a + m.a + float(rng.uniform(2, cfg.talk_gap - 2))
                mx = xa - side * dist
                mg = ga + float(rng.uniform(-2, 2))
                a = float(rng.uniform(-1.75, 1.75))
                frame = ActorFrame(
                    Pose(mx, mg, float(rng.uniform(0, 2 * math.pi))),
                    Pose(mx, mg - m.b - 0.55 * m.a + 1.0),
                    Pose(mx + m.limb_side * 0.7 * m.a, mg - 0.6 * m.b,
                         _limb_angle(m, a)), None, 'mannequin', False)
                self.mannequins.append((m, frame))
        for i in rest:
            spec = specs[i]
            lo, hi = bounds(spec)
            tr = TrackV2(spec, distractor_timeline(rng, cfg, T, cfg.carry_prob))
            gaps[len(self.tracks)] = float(rng.uniform(*cfg.carry_gap))
            integrate_track(tr, rng, float(rng.uniform(lo, hi)), ground(), T, lo, hi,
                            gaps[len(self.tracks)], cfg.nod_amp)
            self.tracks.append(tr)

        # passers: carry look-alikes, closest approach at a keyframe of a walk
        self.passers: list[Passer] = []
        keyframes = set(self.keyframe_frames())
        for k, tr in enumerate(self.tracks):
            for seg in tr.segments:
                if seg.movement != 'walk' or seg.carry:
                    continue
                kfs = [f for f in range(seg.start, seg.end - 1) if f in keyframes]
                if not kfs or rng.random() >= cfg.passer_prob:
                    continue
                tk = int(rng.choice(kfs))
                f = tr.frames[tk]
                va = tr.frames[tk + 1].body.x - f.body.x
                dv = float(rng.choice([-1, 1]) * rng.uniform(1.5, 3.0))
                size = float(rng.uniform(6, 10)) * H / 120.0
                reach = tr.spec.a + tr.spec.limb_len + float(
                    rng.uniform(*cfg.carry_gap)) + size / 2
                side = int(rng.choice([-1, 1]))
                self.passers.append(Passer(
                    Texture.random(rng), size, f.body.y, f.body.x + side * reach, tk,
                    va + dv, max(0, tk - 4 * cfg.fps), min(T, tk + 4 * cfg.fps)))
        self.static_objects = []
        for _ in range(int(rng.integers(0, cfg.max_static_objects + 1))):
            size = float(rng.uniform(6, 10)) * H / 120.0
            self.static_objects.append((Pose(float(rng.uniform(5, self.world_w - 5)),
                                             float(rng.uniform(0.5, 0.95)) * H),
                                        size, Texture.random(rng)))
        # far (small y) first; mannequins take part in the depth order
        items = [('t', k, tr.frames[0].body.y) for k, tr in enumerate(self.tracks)]
        items += [('m', k, fr.body.y) for k, (_, fr) in enumerate(self.mannequins)]
        self.draw_order = [(kind, k) for kind, k, _ in sorted(items, key=lambda i: i[2])]
        self.noise_rng = np.random.default_rng(rng.integers(2**31))
        self._ann_cache: dict[int, list[Annotation]] = {}

    @property
    def num_frames(self) -> int:
        return self.cfg.fps * self.seconds

    def keyframe_seconds(self) -> list[int]:
        m = self.cfg.keyframe_margin
        return list(range(m, self.seconds - m))

    def keyframe_frames(self) -> list[int]:
        return [self.cfg.fps * s for s in self.keyframe_seconds()]

    def _speaker(self, rng, spec, anchor: TrackV2, xa, ga, side, lo, hi) -> TrackV2:
        """Walks up to the anchor, stands beside it nodding (talks) 3-6 s, walks off."""
        cfg, T = self.cfg, self.num_frames
        cuts = _cuts(cfg.fps, T)
        first = 2 * cfg.keyframe_margin  # talk inside the keyframe range
        i1 = int(rng.integers(first, max(first + 1, len(cuts) - 2 - first - 6)))
        i2 = min(len(cuts) - 2, i1 + int(rng.integers(3, 7)))
        s1, s2 = cuts[i1], cuts[i2]
        dist = anchor.spec.a + spec.a + float(rng.uniform(2, cfg.talk_gap - 2))
        x_stand = xa + side * dist
        v_in, v_out = (float(rng.uniform(1.5, 2.5)) for _ in range(2))
        fixed = []
        for t in range(T):
            if t < s1:
                x = x_stand + side * v_in * (s1 - t)
            elif t < s2:
                x = x_stand
            else:
                x = x_stand + side * v_out * (t - s2)
            fixed.append(_reflect(x, min(lo, x_stand), max(hi, x_stand)))
        segs = [SegV2('walk', 'walk', 0, s1), SegV2('stand', 'nod', s1, s2),
                SegV2('walk', 'walk', s2, T)]
        tr = TrackV2(spec, [s for s in segs if s.end > s.start], role='speaker')
        integrate_track(tr, rng, x_stand, ga + float(rng.uniform(-2, 2)), T, lo, hi,
                        5.0, cfg.nod_amp, fixed_x=fixed)
        return tr

    # ------------------------------------------------------------------ rendering
    def render(self, t: int, with_flow: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame ``t`` as uint8 ``(H, W, 3)`` RGB and the forward flow ``t -> t+1``."""
        import cv2
        cfg = self.cfg
        H, W = cfg.height, cfg.width
        ox, oy = self.pan[t]
        nx, ny = self.pan[t + 1]
        m = np.float32([[1, 0, -ox], [0, 1, -oy]])
        canvas = cv2.warpAffine(self.background, m, (W, H), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
        flow = None
        want_flow = with_flow and t + 1 < self.num_frames
        if want_flow:
            flow = np.empty((H, W, 2), np.float32)
            flow[..., 0], flow[..., 1] = ox - nx, oy - ny
        for pose, size, tex in self.static_objects:
            paint_square(canvas, flow, shift_pose(pose, ox, oy),
                         shift_pose(pose, nx, ny) if want_flow else None, size, tex)
        for ps in self.passers:
            if ps.t0 <= t < ps.t1:
                paint_square(canvas, flow, shift_pose(ps.pose(t), ox, oy),
                             shift_pose(ps.pose(t + 1), nx, ny) if want_flow else None,
                             ps.size, ps.tex)
        for kind, k in self.draw_order:
            if kind == 'm':
                spec, fr = self.mannequins[k]
                f0, f1 = fr, (fr if want_flow else None)
            else:
                tr = self.tracks[k]
                spec = tr.spec
                f0 = tr.frames[t]
                f1 = tr.frames[t + 1] if want_flow else None
            self._paint_actor(canvas, flow, spec, f0, f1, ox, oy, nx, ny)
        if cfg.noise_std > 0:
            noise = self.noise_rng.standard_normal(canvas.shape, dtype=np.float32)
            noise *= cfg.noise_std
            canvas += noise
        img = cv2.convertScaleAbs(np.clip(canvas, 0, 255, out=canvas))  # rounds
        return img, flow

    @staticmethod
    def _paint_actor(canvas, flow, spec, f0, f1, ox, oy, nx, ny):
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
            if f1 is not None and f1.obj is None:  # carry ends: the object stays
                p1 = Pose(p0.x - (nx - ox), p0.y - (ny - oy))
            paint_square(canvas, flow, p0, p1, spec.carried_size, spec.carried)

    # ------------------------------------------------------------------ labels
    def screen_box(self, k: int, t: int) -> np.ndarray:
        tr = self.tracks[k]
        ox, oy = self.pan[t]
        return tr.frames[t].box(tr.spec) - np.array([ox, oy, ox, oy])

    def annotations(self, t: int) -> list[Annotation]:
        """Visible actors at frame ``t`` with boxes (px) and class names."""
        if t in self._ann_cache:
            return self._ann_cache[t]
        cfg = self.cfg
        items, moves = [], []
        for k, tr in enumerate(self.tracks):
            box = self.screen_box(k, t)
            clipped = np.clip(box, 0, [cfg.width, cfg.height, cfg.width, cfg.height])
            area = (box[2] - box[0]) * (box[3] - box[1])
            vis = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
            if area <= 0 or vis / area < cfg.min_visible:
                continue
            labels = [tr.labels[t]] + (['carry'] if tr.frames[t].carry else [])
            items.append(Annotation(t, k, clipped, labels))
            moves.append(tr.movements[t])
        for a, ma in zip(items, moves):
            if ma != 'stand':
                continue
            for b, mb in zip(items, moves):
                if b is a or mb != 'nod':
                    continue
                if listen_geometry(a.box, b.box, cfg.talk_gap):
                    a.labels.append('listen_to')
                    break
        self._ann_cache[t] = items
        return items

    def occluded(self, t: int) -> bool:
        return boxes_overlap([a.box for a in self.annotations(t)],
                             self.cfg.occlusion_iou)

    def recognition_clips(self, clip_seconds: float = 3.0) -> list[tuple[int, int, str]]:
        """``(start_frame, num_frames, label)`` around each short action of the
        active actor that lies inside the video and is on screen at its centre."""
        cfg, T = self.cfg, self.num_frames
        n = int(round(clip_seconds * cfg.fps))
        out, seen = [], set()
        tr = self.tracks[0]
        for seg in tr.segments:
            if seg.label not in SHORT_ACTIONS or (seg.label, seg.start) in seen:
                continue
            segs = [s for s in tr.segments if s.label == seg.label
                    and s.start >= seg.start and s.start <= seg.start + 2 * cfg.fps]
            end = seg.end if seg.label not in ORDER_PAIRS else segs[1].end
            seen.update((s.label, s.start) for s in segs)
            centre = (seg.start + end) // 2
            start = centre - n // 2
            if start < 0 or start + n > T:
                continue
            if not any(a.person_id == 0 for a in self.annotations(centre)):
                continue
            out.append((start, n, seg.label))
        return out


def listen_geometry(a: np.ndarray, b: np.ndarray, gap_max: float) -> bool:
    """Boxes side by side: horizontal gap <= ``gap_max``, vertical overlap >= 50 %."""
    gap = max(a[0], b[0]) - min(a[2], b[2])
    ov = min(a[3], b[3]) - max(a[1], b[1])
    hmin = min(a[3] - a[1], b[3] - b[1])
    return gap <= gap_max and ov >= 0.5 * hmin


def _reflect(x: float, lo: float, hi: float) -> float:
    span = hi - lo
    if span <= 0:
        return lo
    y = (x - lo) % (2 * span)
    return lo + (y if y <= span else 2 * span - y)
