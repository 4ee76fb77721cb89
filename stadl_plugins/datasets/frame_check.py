"""Start-up checks of the frame files a dataset's clips will read.

* :func:`sample_ava_frames_spec` finds ``SampleAVAFrames`` in a pipeline config;
* :func:`ava_clip_frame_indices` lists every frame index that transform can read
  for one keyframe, temporal jitter included (it reproduces
  ``mmaction.datasets.transforms.SampleAVAFrames`` exactly);
* :func:`check_frame_files` checks files for existence and decodability, with a
  progress bar and a cache of the files found good.

Check modes: ``'quick'`` (default: the file is non-empty, starts with the JPEG or
PNG signature and ends with the JPEG end-of-image marker ``FFD9`` / the PNG
``IEND`` chunk, which catches truncated files; files of other formats are
decoded fully), ``'full'`` (additionally decodes every file with OpenCV, which
catches corrupt data inside a complete file), ``'exists'`` (existence only).

Cache: JSON ``{"version": 1, "entries": {path: [size, mtime_ns, mode]}}`` of the
files found good; a file is re-checked when its size or mtime changed or when it
was checked in a weaker mode. The default location is
``$XDG_CACHE_HOME/stadl_plugins/frame_checks/<hash>.json`` (``~/.cache`` without
``XDG_CACHE_HOME``); when it cannot be written the check runs without a cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MODES = ('exists', 'quick', 'full')
_STRENGTH = {m: i for i, m in enumerate(MODES)}
CACHE_VERSION = 1


def sample_ava_frames_spec(pipeline) -> dict | None:
    """``dict(clip_len, frame_interval, test_mode)`` of the pipeline's first
    ``SampleAVAFrames`` (config dict or built transform), or None."""
    for t in pipeline or ():
        if isinstance(t, dict):
            name = str(t.get('type', '')).split('.')[-1]
            if name == 'SampleAVAFrames':
                return dict(clip_len=int(t['clip_len']),
                            frame_interval=int(t.get('frame_interval', 2)),
                            test_mode=bool(t.get('test_mode', False)))
        elif type(t).__name__ == 'SampleAVAFrames':
            return dict(clip_len=int(t.clip_len), frame_interval=int(t.frame_interval),
                        test_mode=bool(t.test_mode))
    return None


def ava_clip_frame_indices(timestamp: int, fps: int, timestamp_start: int,
                           start_index: int, shot_info, clip_len: int,
                           frame_interval: int, test_mode: bool) -> np.ndarray:
    """Every frame index (before ``RawFrameDecode``'s ``offset``) that
    ``SampleAVAFrames(clip_len, frame_interval, test_mode)`` can read for one
    keyframe: the clip ``center + k * frame_interval`` plus, in training, every
    jitter ``np.random.randint(-frame_interval // 2, (frame_interval + 1) // 2)``,
    clipped to ``shot_info`` and shifted by ``start_index`` (which MMAction2 adds
    twice: to the centre and to the clipped indices)."""
    center = fps * (timestamp - timestamp_start) + start_index
    start = center - (clip_len // 2) * frame_interval
    base = np.arange(clip_len) * frame_interval + start
    if test_mode:
        offsets = np.zeros(1, np.int64)
    else:
        offsets = np.arange(-frame_interval // 2, (frame_interval + 1) // 2)
    inds = (base[:, None] + offsets[None, :]).ravel()
    inds = np.clip(inds, shot_info[0], shot_info[1] - 1)
    return np.unique(inds) + start_index


def default_cache_file(key: str) -> str:
    root = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return osp.join(root, 'stadl_plugins', 'frame_checks', f'{digest}.json')


def _load_cache(path: str | None) -> dict:
    if not path or not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
        if data.get('version') == CACHE_VERSION and isinstance(data.get('entries'), dict):
            return data['entries']
    except (OSError, ValueError):
        pass  # unreadable or corrupt cache: check again
    return {}


def _save_cache(path: str | None, entries: dict) -> bool:
    if not path:
        return False
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(tmp, 'w') as f:
            json.dump(dict(version=CACHE_VERSION, entries=entries), f)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        return False


def check_file(path: str, mode: str = 'quick') -> str | None:
    """``None`` when ``path`` passes the ``mode`` check, else what is wrong."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 'is missing'
    if mode == 'exists':
        return None
    if size == 0:
        return 'is empty (0 bytes)'
    try:
        with open(path, 'rb') as f:
            head = f.read(8)
            f.seek(max(0, size - 64))
            tail = f.read()
    except OSError as exc:
        return f'cannot be read ({exc})'
    if head[:3] == b'\xff\xd8\xff':
        if b'\xff\xd9' not in tail:
            return 'is truncated (no JPEG end-of-image marker FFD9)'
    elif head == b'\x89PNG\r\n\x1a\n':
        if b'IEND' not in tail:
            return 'is truncated (no PNG IEND chunk)'
    elif mode == 'quick':
        mode = 'full'  # neither JPEG nor PNG: let OpenCV decide
    if mode == 'full':
        import cv2
        try:
            img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        except (OSError, cv2.error) as exc:
            return f'cannot be decoded ({exc})'
        if img is None or img.size == 0:
            return 'cannot be decoded by OpenCV (corrupt or not an image)'
    return None


def check_frame_files(paths, mode: str = 'quick', cache_file: str | None = None,
                      progress: bool = True, workers: int = 8) -> tuple[dict, dict]:
    """Check ``paths``; returns ``(problems {path: what}, stats)``.

    ``stats``: ``checked`` (files looked at now), ``cached`` (skipped: unchanged
    since a check at least as strong), ``cache`` (the cache file used, or None
    when it could not be written).
    """
    if mode not in MODES:
        raise ValueError(f'check_frames must be one of {MODES} or False, got {mode!r}')
    paths = sorted(set(paths))
    entries = _load_cache(cache_file)
    todo, problems, stat, missing = [], {}, {}, 0
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            problems[p] = 'is missing'
            missing += 1
            continue
        stat[p] = [st.st_size, st.st_mtime_ns]
        e = entries.get(p)
        if e and e[:2] == stat[p] and _STRENGTH.get(e[2], -1) >= _STRENGTH[mode]:
            continue
        todo.append(p)
    bar = None
    if progress and todo:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(todo))
    step = max(1, len(todo) // 200)

    def one(p):
        return p, check_file(p, mode)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, (p, problem) in enumerate(pool.map(one, todo), start=1):
            if problem:
                problems[p] = problem
                entries.pop(p, None)
            else:
                entries[p] = stat[p] + [mode]
            if bar is not None and (i % step == 0 or i == len(todo)):
                bar.update(step if i % step == 0 else i % step)
    if bar is not None:
        print(flush=True)
    saved = _save_cache(cache_file, entries) if todo else bool(
        cache_file and osp.isfile(cache_file))
    return problems, dict(checked=len(todo), cached=len(paths) - len(todo) - missing,
                          cache=cache_file if saved else None)
