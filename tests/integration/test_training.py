"""Real Runner training on tiny generated data: loss goes down, test gives AVA mAP,
checkpoints save, load weights-only and resume on the pinned torch."""
import glob
import os.path as osp

import pytest
import torch
from helpers import tiny_runner_config
from mmengine.runner import Runner


def _losses(work_dir):
    import json
    losses = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec:
                    losses.append(rec['loss'])
    return losses


@pytest.mark.slow
def test_train_loss_decreases_then_test_gives_ava_map(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'run', max_epochs=6, batch_size=4)
    cfg.optim_wrapper.optimizer.lr = 3e-3
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = _losses(str(tmp_path / 'run'))
    n = len(losses)
    assert n >= 12
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.7 * first, losses
    metrics = runner.test()
    assert 'mAP/overall' in metrics
    assert 0.0 <= metrics['mAP/overall'] <= 1.0
    ckpts = glob.glob(str(tmp_path / 'run' / 'epoch_*.pth'))
    assert ckpts


@pytest.mark.slow
def test_checkpoint_resume_and_weights_only_load(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    work = tmp_path / 'resume'
    cfg = tiny_runner_config(root, meta, work, max_epochs=1)
    cfg.default_hooks.checkpoint.save_best = None
    Runner.from_cfg(cfg).train()
    ckpt_path = str(work / 'epoch_1.pth')
    # weights-only loading of a real Runner checkpoint (message hub included)
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt['meta']['epoch'] == 1 and 'message_hub' in ckpt
    # resume: continue to epoch 2 from the saved state
    cfg2 = tiny_runner_config(root, meta, work, max_epochs=2)
    cfg2.default_hooks.checkpoint.save_best = None
    cfg2.resume = True
    runner = Runner.from_cfg(cfg2)
    runner.train()
    assert runner.epoch == 2
    assert osp.exists(work / 'epoch_2.pth')
    # load_from a checkpoint into a fresh model gives identical weights
    cfg3 = tiny_runner_config(root, meta, tmp_path / 'load', max_epochs=1)
    cfg3.load_from = str(work / 'epoch_2.pth')
    r3 = Runner.from_cfg(cfg3)
    r3.load_or_resume()
    sd = torch.load(str(work / 'epoch_2.pth'), weights_only=True)['state_dict']
    for k, v in r3.model.state_dict().items():
        torch.testing.assert_close(v, sd[k])
