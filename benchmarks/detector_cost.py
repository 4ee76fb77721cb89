"""Forward time and training-step peak memory of synthetic-benchmark detectors.

Shared by the flow and recurrent overhead benchmarks: every variant is a config
(plus ``model.neck`` overrides) built with the registry, fed the same 120x160 clip
and proposals. Forward time is ``FastRCNN.predict`` timed round-robin over the
variants (so load drift on a shared machine hits all alike); peak memory is the
growth of the process's peak resident size (VmHWM, reset through
``/proc/self/clear_refs``) during one ``loss`` + ``backward`` in a fresh process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def build(path: str, neck: dict | None = None, model: dict | None = None):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import stadl_plugins  # noqa: F401
    init_default_scope('mmaction')
    cfg = Config.fromfile(path if os.path.isabs(path) else os.path.join(REPO, path))
    if neck:
        cfg.model.neck.update(neck)
    if model:
        cfg.model.update(model)
    return MODELS.build(cfg.model)


def clip_len(path: str) -> int:
    from mmengine.config import Config
    cfg = Config.fromfile(path if os.path.isabs(path) else os.path.join(REPO, path))
    return cfg.val_dataloader.dataset.pipeline[0].clip_len


def samples(train: bool = False):
    """One data sample: 2 proposals (and, for training, 2 GT boxes with labels)."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    ds = ActionDataSample()
    boxes = torch.tensor([[10., 10., 60., 100.], [70., 20., 120., 110.]])
    ds.proposals = InstanceData(bboxes=boxes, scores=torch.ones(2))
    if train:
        labels = torch.zeros(2, 81)
        labels[0, 12], labels[1, 14] = 1, 1       # stand, walk
        ds.gt_instances = InstanceData(bboxes=boxes, labels=labels)
    ds.set_metainfo(dict(img_shape=(120, 160)))
    return [ds]


def predict_times(variants, repeats: int) -> dict[str, float]:
    """Median ``predict`` seconds per variant ``(name, path, neck_overrides, T)``
    (``T``: frames of the clip, ``None``: the config's ``clip_len``)."""
    from harness import time_fn
    models = [(name, build(path, neck).eval(), T or clip_len(path))
              for name, path, neck, T in variants]
    torch.manual_seed(0)
    clips = {T: torch.randn(1, 3, T, 120, 160) for _, _, T in models}
    times = {name: [] for name, _, _ in models}
    for _ in range(repeats):
        for name, det, T in models:
            def fwd(det=det, x=clips[T]):
                with torch.no_grad():
                    det.predict(x, samples())
            times[name].append(time_fn(fwd, repeats=1, warmup=1))
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


_MEM_CODE = r'''
import json, sys, torch
sys.path.insert(0, {here!r})
import detector_cost as dc
path, neck, T = {path!r}, {neck!r}, {T!r}
det = dc.build(path, neck).train()
x = torch.randn(2, 3, T or dc.clip_len(path), 120, 160)
def data():  # fresh samples per call: the RoI head pops the proposals' boxes
    return dc.samples(train=True) + dc.samples(train=True)

def status(key):
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024

det.loss(x, data())  # warm-up: allocator pools, lazy inits
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')   # reset VmHWM to the current resident size
base = status('VmRSS:')
losses = det.loss(x, data())
sum(v for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)).backward()
print(json.dumps(status('VmHWM:') - base))
'''


def train_step_peak_mb(path: str, neck: dict | None = None, T: int | None = None) -> float:
    """Peak resident-memory growth (MiB) of one training step, batch 2, CPU."""
    code = _MEM_CODE.format(here=HERE, path=path, neck=neck, T=T)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=HERE, env=env)
    if out.returncode:
        raise RuntimeError(f'memory probe failed for {path} {neck}:\n{out.stderr[-3000:]}')
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def cost_rows(variants, quick: bool):
    """Rows ``[name, neck params, predict ms, ratio, train-step peak MiB, ratio]``;
    the first variant is the reference."""
    times = predict_times(variants, 3 if quick else 9)
    rows, ref_t, ref_m = [], None, None
    n_ref = sum(p.numel() for p in build(variants[0][1], variants[0][2]).parameters())
    for name, path, neck, T in variants:
        extra = sum(p.numel() for p in build(path, neck).parameters()) - n_ref
        mem = train_step_peak_mb(path, neck, T)
        ref_t, ref_m = ref_t or times[name], ref_m or mem
        rows.append([name, T or clip_len(path), f'{extra:+,}', round(times[name] * 1e3, 1),
                     round(times[name] / ref_t, 2), round(mem, 1), round(mem / ref_m, 2)])
    return rows


HEADER = ['model', 'frames', 'params vs reference', 'predict ms', 'time ratio',
          'train-step peak MiB', 'memory ratio']
