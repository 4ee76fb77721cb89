"""Which frames of a clip form the flow pairs of the two-stream model (Zhang et al.
2020): shared by the ``LoadFlowGT`` transform and ``FlowTwoStreamBackbone``, so
both read the same pairs."""
from __future__ import annotations

__all__ = ['pair_indices']


def pair_indices(clip_len: int, num_frames: int = 3, frame_stride: int = 1,
                 pairs: str = 'adjacent') -> list[tuple[int, int]]:
    """Clip positions of the flow pairs around the centre ``clip_len // 2``.

    ``'adjacent'``: ``(k-s, k), (k, k+s), ...`` for the ``num_frames`` frames
    ``k + s*j`` (the paper: K=3 gives two pairs); ``'outer'``: the first and the
    last of those frames only (the released code: one pair ``(k-1, k+1)``).
    """
    if num_frames < 2 or num_frames % 2 == 0:
        raise ValueError(f'num_frames must be odd and >= 3, got {num_frames}')
    if pairs not in ('adjacent', 'outer'):
        raise ValueError(f"pairs must be 'adjacent' or 'outer', got {pairs!r}")
    k, half = clip_len // 2, num_frames // 2
    frames = [k + frame_stride * j for j in range(-half, half + 1)]
    if frames[0] < 0 or frames[-1] >= clip_len:
        raise ValueError(f'{num_frames} frames with stride {frame_stride} around position '
                         f'{k} do not fit a clip of {clip_len} frames')
    if pairs == 'outer':
        return [(frames[0], frames[-1])]
    return list(zip(frames[:-1], frames[1:]))
