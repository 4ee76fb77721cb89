"""The command-line tools as users run them: tools/train.py, tools/test.py (--dump),
``mim train/test stadl_plugins`` and ``mim train mmaction`` with our config."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
from helpers import REPO, tiny_runner_config

BIN = osp.dirname(sys.executable)


def run(cmd, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env,
                         timeout=600)
    assert res.returncode == 0, (f'{" ".join(cmd)} failed:\n'
                                 f'{res.stdout[-3000:]}\n{res.stderr[-3000:]}')
    return res


@pytest.fixture(scope='module')
def tiny_config_file(tiny_synthetic, tmp_path_factory):
    """A resolved config for the tiny dataset, dumped to a .py file."""
    root, meta = tiny_synthetic
    tmp = tmp_path_factory.mktemp('cfg')
    cfg = tiny_runner_config(root, meta, tmp / 'unused', max_epochs=1)
    cfg.default_hooks.checkpoint.save_best = None
    cfg.pop('work_dir')
    path = str(tmp / 'tiny_synthetic.py')
    cfg.dump(path)
    return path


@pytest.mark.slow
def test_train_and_test_cli_with_dump(tiny_config_file, tmp_path):
    work = str(tmp_path / 'work')
    run([sys.executable, osp.join(REPO, 'tools', 'train.py'), tiny_config_file,
         '--work-dir', work, '--seed', '0', '--cfg-options',
         'train_dataloader.batch_size=2'], cwd=str(tmp_path))
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.exists(ckpt)
    dump = str(tmp_path / 'preds.pkl')
    res = run([sys.executable, osp.join(REPO, 'tools', 'test.py'), tiny_config_file,
               ckpt, '--work-dir', work, '--dump', dump], cwd=str(tmp_path))
    assert 'mAP/overall' in res.stdout + res.stderr
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert preds and 'pred_instances' in preds[0]
    assert preds[0]['pred_instances']['scores'].shape[1] == 81
    # --format-only: the leaderboard CSV (+ zip) instead of metrics
    sub = str(tmp_path / 'sub.csv')
    res = run([sys.executable, osp.join(REPO, 'tools', 'test.py'), tiny_config_file,
               ckpt, '--work-dir', work, '--format-only', sub, '--zip'],
              cwd=str(tmp_path))
    from stadl_plugins.evaluation import validate_ava_submission
    rep = validate_ava_submission(sub, label_map=None)
    assert rep.num_rows > 0 and osp.exists(sub + '.zip')
    assert 'mAP/overall' not in res.stdout + res.stderr
    # --resume continues from the last checkpoint in the work dir
    run([sys.executable, osp.join(REPO, 'tools', 'train.py'), tiny_config_file,
         '--work-dir', work, '--resume', '--cfg-options', 'train_cfg.max_epochs=2'],
        cwd=str(tmp_path))
    assert osp.exists(osp.join(work, 'epoch_2.pth'))


@pytest.mark.slow
def test_mim_train_and_test_stadl_plugins(tiny_config_file, tmp_path):
    mim = osp.join(BIN, 'mim')
    work = str(tmp_path / 'mim_work')
    run([mim, 'train', 'stadl_plugins', tiny_config_file, '--gpus', '0',
         '--work-dir', work], cwd=str(tmp_path))
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.exists(ckpt)
    res = run([mim, 'test', 'stadl_plugins', tiny_config_file, '--checkpoint', ckpt,
               '--gpus', '0', '--work-dir', work], cwd=str(tmp_path))
    assert 'mAP/overall' in res.stdout + res.stderr


@pytest.mark.slow
def test_mim_train_mmaction_with_custom_imports(tiny_config_file, tmp_path):
    work = str(tmp_path / 'mmaction_work')
    run([osp.join(BIN, 'mim'), 'train', 'mmaction', tiny_config_file, '--gpus', '0',
         '--work-dir', work], cwd=str(tmp_path))
    assert osp.exists(osp.join(work, 'epoch_1.pth'))
