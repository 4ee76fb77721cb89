"""Exact resume: a run killed with SIGKILL mid-epoch and resumed with ``--resume``
ends with the same weights and losses as the uninterrupted run (deterministic
mode, random augmentation and dropout on). See stadl_plugins/engine/exact_resume_hook.py.
"""
import io
import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from helpers import REPO, tiny_runner_config

from stadl_plugins.engine.exact_resume_hook import capture_rng_state, restore_rng_state

TRAIN = osp.join(REPO, 'tools', 'train.py')


def test_rng_state_round_trips_through_a_weights_only_checkpoint():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    f = io.BytesIO()
    torch.save({'stadl_rng_state': capture_rng_state()}, f)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    f.seek(0)
    restore_rng_state(torch.load(f, weights_only=True)['stadl_rng_state'])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def resume_config(tiny_synthetic, tmp_path, num_workers=0, persistent=False):
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'unused', max_epochs=2,
                             batch_size=2)  # 10 keyframes: 5 iterations an epoch
    cfg.train_dataloader.num_workers = num_workers
    cfg.train_dataloader.persistent_workers = persistent
    cfg.train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=2)
    cfg.custom_hooks = [dict(type='RNGStateHook')]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3,
                                        by_epoch=False, max_keep_ckpts=-1)
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.pop('work_dir')
    path = str(tmp_path / 'resume.py')
    cfg.dump(path)
    return path


def env():
    return dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')


def train(cfg_path, work, *extra):
    res = subprocess.run([sys.executable, TRAIN, cfg_path, '--work-dir', work,
                          *extra], capture_output=True, text=True, env=env(),
                         timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]


def losses(work):
    out = {}
    for d in sorted(os.listdir(work)):
        path = osp.join(work, d, 'vis_data', 'scalars.json')
        if osp.exists(path):
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)
                    if 'loss' in rec:
                        out[rec['step']] = rec['loss']  # a resumed run rewrites
    return out


@pytest.mark.parametrize('num_workers,persistent', [(0, False), (2, True)],
                         ids=['workers0', 'workers2-persistent'])
@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_reproduces_the_uninterrupted_run(
        tiny_synthetic, tmp_path, num_workers, persistent):
    """Killed in iteration 7 (mid epoch 2), resumed from iter_6.

    With ``persistent_workers=True`` the workers of the uninterrupted run live
    through both epochs while the resumed run starts new ones in epoch 2: the
    per-sample seeding (engine/sample_seeding.py) makes both augment alike.
    """
    cfg_path = resume_config(tiny_synthetic, tmp_path, num_workers, persistent)
    full, killed = str(tmp_path / 'full'), str(tmp_path / 'killed')
    train(cfg_path, full)

    proc = subprocess.Popen([sys.executable, TRAIN, cfg_path, '--work-dir', killed],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env())
    marker = osp.join(killed, 'last_checkpoint')
    deadline = time.monotonic() + 400
    while proc.poll() is None and time.monotonic() < deadline:
        if osp.exists(marker) and open(marker).read().strip().endswith('iter_6.pth'):
            proc.send_signal(signal.SIGKILL)  # in iteration 7, mid epoch 2
            break
        time.sleep(0.05)
    assert proc.wait(timeout=60) == -signal.SIGKILL, 'the run was not killed'
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    assert not osp.exists(osp.join(killed, 'iter_9.pth'))

    train(cfg_path, killed, '--resume')
    a = torch.load(osp.join(full, 'iter_10.pth'), weights_only=True)
    b = torch.load(osp.join(killed, 'iter_10.pth'), weights_only=True)
    assert a['meta']['iter'] == b['meta']['iter'] == 10
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), k
    la, lb = losses(full), losses(killed)
    assert sorted(la) == list(range(1, 11)) and sorted(lb) == list(range(1, 11))
    assert la == lb
