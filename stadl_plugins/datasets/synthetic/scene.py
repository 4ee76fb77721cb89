"""Procedural scenes for the synthetic STAD benchmark: actors, action timelines, rendering.

Everything a class can be recognised by is *motion or context*, never appearance:
every actor, limb and object gets a random colour and a random stripe/checker texture
drawn independently of what it does, and the arm of a non-waving actor is held at a
random static angle (raised included), so a single frame cannot tell ``wave`` from
``stand``. Two classes can only be told from evidence outside the actor's box:
``carry`` (an object that travels with the actor, drawn beside the box, while static
distractor objects lie around) and ``talk_to`` (another standing actor close by).

Geometry is in pixels of the rendered frame, ``x`` to the right and ``y`` down.
Angles are in radians in that frame (``pi/2`` points down).

Every shape is rigid between two frames (a translation plus a rotation about a
pivot), so the forward optical flow from frame ``t`` to ``t+1`` is known exactly:
see :func:`rigid_flow`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

#: (AVA-compatible id, name, AVA group). Ids reuse AVA's numbering for the nearest
#: AVA action, so MMAction2's pose / object / interaction split applies unchanged
#: (ids <= 14, 15..63, >= 64).
SYNTHETIC_CLASSES: tuple[tuple[int, str, str], ...] = (
    (4, 'spin', 'person_movement'),      # texture rotates in place (AVA: dance)
    (7, 'jump', 'person_movement'),      # vertical bounce
    (12, 'stand', 'person_movement'),    # still
    (14, 'walk', 'person_movement'),     # horizontal translation
    (17, 'carry', 'object_manipulation'),  # object moving with the actor, outside its box
    (69, 'wave', 'person_interaction'),  # arm oscillates
    (79, 'talk_to', 'person_interaction'),  # standing next to another standing actor
)
CLASS_IDS = {name: cid for cid, name, _ in SYNTHETIC_CLASSES}

# actions an actor's timeline is made of (carry and talk_to are derived)
_BASE_ACTIONS = ('stand', 'walk', 'jump', 'spin', 'wave')
_BASE_WEIGHTS = np.array([0.3, 0.25, 0.15, 0.15, 0.15])


@dataclass
class Texture:
    """A procedural texture: two colours in stripes or a checkerboard."""
    kind: str                 # 'stripes' | 'checker'
    c0: np.ndarray            # (3,) float colour
    c1: np.ndarray            # (3,) float colour
    period: float             # pixels
    phase: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> 'Texture':
        c0 = rng.uniform(25, 230, size=3)
        c1 = np.clip(c0 + rng.choice([-1, 1], size=3) * rng.uniform(50, 110, size=3),
                     0, 255)
        return cls(kind=str(rng.choice(['stripes', 'checker'])), c0=c0, c1=c1,
                   period=float(rng.uniform(4.0, 8.0)),
                   phase=float(rng.uniform(0, 2 * math.pi)))

    def sample(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Colours at local coordinates ``(u, v)`` -> ``(*u.shape, 3)``."""
        k = 2 * math.pi / self.period
        s = np.sin(k * u + self.phase)
        if self.kind == 'checker':
            s = s * np.sin(k * v + self.phase)
        w = (s > 0).astype(np.float32)[..., None]
        return self.c0 * (1 - w) + self.c1 * w


@dataclass
class Pose:
    """Rigid pose of a shape: pivot ``(x, y)`` and rotation ``angle``."""
    x: float
    y: float
    angle: float = 0.0


def rigid_flow(xs: np.ndarray, ys: np.ndarray, p0: Pose, p1: Pose) -> np.ndarray:
    """Forward flow of pixels ``(xs, ys)`` on a shape moving rigidly from p0 to p1.

    A point with local coordinates ``q = R(-a0) (p - c0)`` lands at
    ``c1 + R(a1) q`` in the next frame.

    Returns:
        np.ndarray: ``(*xs.shape, 2)`` displacement ``(dx, dy)`` in pixels.
    """
    dx, dy = xs - p0.x, ys - p0.y
    da = p1.angle - p0.angle
    c, s = math.cos(da), math.sin(da)
    nx = p1.x + c * dx - s * dy
    ny = p1.y + s * dx + c * dy
    return np.stack([nx - xs, ny - ys], axis=-1)


@dataclass
class Segment:
    """One action of an actor over frames ``[start, end)``."""
    action: str
    start: int
    end: int
    carry: bool = False


@dataclass
class ActorSpec:
    """Appearance and timeline of one actor (appearance independent of actions)."""
    body: Texture
    head_colour: np.ndarray
    limb_colour: np.ndarray
    a: float                  # body ellipse semi-axis, x
    b: float                  # body ellipse semi-axis, y
    limb_side: int            # +1 right, -1 left
    limb_len: float
    segments: list[Segment] = field(default_factory=list)
    carried: Texture | None = None
    carried_size: float = 8.0
    carry_side: int = 1


@dataclass
class ActorFrame:
    """Where an actor and its parts are in one frame."""
    body: Pose                # centre, texture angle
    head: Pose
    limb: Pose                # shoulder pivot, limb angle
    obj: Pose | None          # carried object centre
    action: str
    carry: bool

    def box(self, spec: ActorSpec) -> np.ndarray:
        """Tight ``[x1, y1, x2, y2]`` of body, head and arm (not the carried object)."""
        r = _head_radius(spec)
        ex = self.limb.x + spec.limb_len * math.cos(self.limb.angle)
        ey = self.limb.y + spec.limb_len * math.sin(self.limb.angle)
        hw = _LIMB_WIDTH / 2
        xs = [self.body.x - spec.a, self.body.x + spec.a, self.head.x - r,
              self.head.x + r, self.limb.x - hw, self.limb.x + hw, ex - hw, ex + hw]
        ys = [self.body.y - spec.b, self.body.y + spec.b, self.head.y - r,
              self.head.y + r, self.limb.y - hw, self.limb.y + hw, ey - hw, ey + hw]
        return np.array([min(xs), min(ys), max(xs), max(ys)], dtype=np.float64)


_LIMB_WIDTH = 3.0


def actor_margin(spec: 'ActorSpec') -> float:
    """Distance from the body centre that keeps arm and carried object in the world."""
    return spec.a + spec.limb_len + 3 + spec.carried_size + 2


def _head_radius(spec: ActorSpec) -> float:
    return 0.55 * spec.a


def half_second_boundaries(fps: int, num_frames: int) -> list[int]:
    """Frames half-way between keyframes: segment boundaries never touch a keyframe."""
    out, k = [], 0
    while True:
        f = int(round(fps * (k + 0.5)))
        if f >= num_frames:
            return out
        out.append(f)
        k += 1


def random_timeline(rng: np.random.Generator, fps: int, num_frames: int,
                    carry_prob: float) -> list[Segment]:
    """A sequence of 1-4 s segments covering the video, cut at half seconds."""
    bounds = [0] + half_second_boundaries(fps, num_frames)
    segs, i = [], 0
    while i < len(bounds):
        dur = int(rng.integers(1, 5))
        j = min(i + dur, len(bounds))
        end = bounds[j] if j < len(bounds) else num_frames
        action = str(rng.choice(_BASE_ACTIONS, p=_BASE_WEIGHTS))
        if segs and segs[-1].action == action and action != 'walk':
            action = 'stand' if action != 'stand' else 'jump'
        carry = action == 'walk' and bool(rng.random() < carry_prob)
        segs.append(Segment(action, bounds[i], end, carry))
        i = j
    return segs


class ActorTrack:
    """Integrates an actor's timeline into per-frame poses (world coordinates)."""

    def __init__(self, spec: ActorSpec, rng: np.random.Generator, x0: float,
                 ground_y: float, num_frames: int, world_w: float,
                 fixed_x: list[float] | None = None):
        self.spec = spec
        self.frames: list[ActorFrame] = []
        x, phi = x0, float(rng.uniform(0, 2 * math.pi))
        margin = actor_margin(spec)
        seg_params: dict[int, dict] = {}
        for t in range(num_frames):
            k, seg = next((k, s) for k, s in enumerate(spec.segments)
                          if s.start <= t < s.end)
            if k not in seg_params:  # per-segment random parameters
                seg_params[k] = dict(
                    v=float(rng.choice([-1, 1]) * rng.uniform(1.5, 2.5)),
                    omega=float(rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)),
                    amp_jump=float(rng.uniform(7, 11)),
                    period_jump=float(rng.uniform(7, 10)),
                    limb_static=float(rng.uniform(-1.75, 1.75)),
                    limb_mid=float(rng.uniform(-1.4, -0.4)),
                    limb_amp=float(rng.uniform(0.6, 0.9)),
                    period_wave=float(rng.uniform(5, 7)))
            p = seg_params[k]
            tt = t - seg.start
            y = ground_y
            if fixed_x is not None:
                x = fixed_x[t]
            elif seg.action == 'walk':
                if tt > 0:
                    x += p['v']
                if x < margin or x > world_w - margin:
                    p['v'] = -p['v']
                    x = float(np.clip(x, margin, world_w - margin))
            if seg.action == 'jump':
                y = ground_y - p['amp_jump'] * abs(
                    math.sin(math.pi * tt / p['period_jump']))
            if seg.action == 'spin':
                phi += p['omega']
            if seg.action == 'wave':
                limb = p['limb_mid'] + p['limb_amp'] * math.sin(
                    2 * math.pi * tt / p['period_wave'])
            else:
                limb = p['limb_static']
            side = spec.limb_side
            # mirror the arm angle for a left arm: angle a -> pi - a
            limb_angle = limb if side > 0 else math.pi - limb
            shoulder = Pose(x + side * 0.7 * spec.a, y - 0.6 * spec.b, limb_angle)
            head = Pose(x, y - spec.b - _head_radius(spec) + 1.0)
            obj = None
            if seg.carry:
                reach = spec.a + spec.limb_len + 3 + spec.carried_size / 2
                obj = Pose(x + spec.carry_side * reach, y)
            self.frames.append(ActorFrame(Pose(x, y, phi), head, shoulder, obj,
                                          seg.action, seg.carry))


def render_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth coloured noise with some fine grain: ``(h, w, 3)`` float32."""
    coarse = rng.uniform(40, 200, size=(max(2, h // 16), max(2, w // 16), 3))
    img = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 18, size=(h, w, 3)).astype(np.float32),
                            (0, 0), 1.2)
    return np.clip(img + fine, 0, 255).astype(np.float32)


def _region(cx: float, cy: float, rx: float, ry: float, h: int, w: int):
    x1, x2 = max(0, int(math.floor(cx - rx))), min(w, int(math.ceil(cx + rx)) + 1)
    y1, y2 = max(0, int(math.floor(cy - ry))), min(h, int(math.ceil(cy + ry)) + 1)
    if x1 >= x2 or y1 >= y2:
        return None
    ys, xs = np.mgrid[y1:y2, x1:x2].astype(np.float32)
    return (slice(y1, y2), slice(x1, x2)), xs + 0.5, ys + 0.5


def _paint(canvas, flow, region, mask, colour, fl):
    sl, _, _ = region
    canvas[sl][mask] = colour[mask]
    if flow is not None and fl is not None:
        flow[sl][mask] = fl[mask]


def paint_ellipse(canvas, flow, p0: Pose, p1: Pose | None, a, b, tex: Texture):
    """Ellipse fixed in shape, texture rotated by ``p0.angle`` (spins with it)."""
    h, w = canvas.shape[:2]
    reg = _region(p0.x, p0.y, a, b, h, w)
    if reg is None:
        return
    _, xs, ys = reg
    dx, dy = xs - p0.x, ys - p0.y
    mask = (dx / a) ** 2 + (dy / b) ** 2 <= 1.0
    c, s = math.cos(-p0.angle), math.sin(-p0.angle)
    colour = tex.sample(c * dx - s * dy, s * dx + c * dy)
    fl = rigid_flow(xs, ys, p0, p1) if (flow is not None and p1) else None
    _paint(canvas, flow, reg, mask, colour, fl)


def paint_disc(canvas, flow, p0: Pose, p1: Pose | None, r, colour):
    h, w = canvas.shape[:2]
    reg = _region(p0.x, p0.y, r, r, h, w)
    if reg is None:
        return
    _, xs, ys = reg
    mask = (xs - p0.x) ** 2 + (ys - p0.y) ** 2 <= r * r
    col = np.broadcast_to(np.asarray(colour, np.float32), (*xs.shape, 3))
    fl = rigid_flow(xs, ys, p0, p1) if (flow is not None and p1) else None
    _paint(canvas, flow, reg, mask, col, fl)


def paint_limb(canvas, flow, p0: Pose, p1: Pose | None, length, colour):
    """A thick segment from the pivot along ``p0.angle``."""
    h, w = canvas.shape[:2]
    ex, ey = p0.x + length * math.cos(p0.angle), p0.y + length * math.sin(p0.angle)
    cx, cy = (p0.x + ex) / 2, (p0.y + ey) / 2
    r = length / 2 + _LIMB_WIDTH
    reg = _region(cx, cy, r, r, h, w)
    if reg is None:
        return
    _, xs, ys = reg
    ux, uy = math.cos(p0.angle), math.sin(p0.angle)
    t = np.clip((xs - p0.x) * ux + (ys - p0.y) * uy, 0, length)
    d2 = (xs - p0.x - t * ux) ** 2 + (ys - p0.y - t * uy) ** 2
    mask = d2 <= (_LIMB_WIDTH / 2) ** 2
    col = np.broadcast_to(np.asarray(colour, np.float32), (*xs.shape, 3))
    fl = rigid_flow(xs, ys, p0, p1) if (flow is not None and p1) else None
    _paint(canvas, flow, reg, mask, col, fl)


def paint_square(canvas, flow, p0: Pose, p1: Pose | None, size, tex: Texture):
    h, w = canvas.shape[:2]
    reg = _region(p0.x, p0.y, size / 2, size / 2, h, w)
    if reg is None:
        return
    _, xs, ys = reg
    dx, dy = xs - p0.x, ys - p0.y
    mask = (np.abs(dx) <= size / 2) & (np.abs(dy) <= size / 2)
    colour = tex.sample(dx, dy)
    fl = rigid_flow(xs, ys, p0, p1) if (flow is not None and p1) else None
    _paint(canvas, flow, reg, mask, colour, fl)


def shift_pose(p: Pose | None, ox: float, oy: float) -> Pose | None:
    return None if p is None else Pose(p.x - ox, p.y - oy, p.angle)
