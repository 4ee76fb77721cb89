"""Multi-process CPU training/testing with gloo through mmengine's own launchers.

Why the 2-process run can be compared exactly with a 1-process run
------------------------------------------------------------------
* BN: with per-process batches, train-mode BN normalises over different samples,
  so the config sets ``norm_eval=True`` (BN uses its running statistics and does
  not update them); dropout is 0, the random ``Flip`` is removed and
  ``SampleAVAFrames`` samples without temporal jitter (``test_mode=True``): each
  process draws from its own numpy RNG, so any random augmentation would differ
  between rank 1 and the second sample of a 1-process run.
* Loss normalisation: ``BBoxHeadAVA`` averages its loss over the RoIs of a
  batch, and keyframes hold different numbers of RoIs. DDP averages the
  gradients of the per-process mean losses, so 2 processes x batch 1 equal one
  process with batch 1 and ``accumulative_counts=2`` (the gradient of the mean of
  the two per-sample means), *not* one process with batch 2 (a mean over all RoIs
  of the pair). The global batch per optimizer step is 2 samples in both runs.
* Order: the distributed ``DefaultSampler`` gives rank r at step k sample
  ``perm[2k + r]`` of the same seeded permutation that one process reads as
  ``perm[0], perm[1], ...``; the probe hook records the keys so this is checked.
"""
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import REPO, tiny_runner_config
from mmengine.runner import Runner

BIN = osp.dirname(sys.executable)

PROBE = '''
"""Test helper: records each rank's loss and batch keys; can kill/hang a rank."""
import json, os, os.path as osp, time
import torch.distributed as dist
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from stadl_plugins.registry import HOOKS


@HOOKS.register_module(force=True)
class DistProbeHook(Hook):

    def __init__(self, out_dir, stop_rank=None, stop_iter=None, how='exit'):
        self.out_dir, self.stop_rank = out_dir, stop_rank
        self.stop_iter, self.how = stop_iter, how

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        rank = get_rank()
        keys = [s.metainfo['img_key'] for s in data_batch['data_samples']]
        backend = dist.get_backend() if dist.is_initialized() else None
        rec = dict(rank=rank, iter=runner.iter, loss=float(outputs['loss'].detach()),
                   keys=keys, backend=backend)
        with open(osp.join(self.out_dir, f'probe_rank{rank}.jsonl'), 'a') as f:
            f.write(json.dumps(rec) + '\\n')
        if rank == self.stop_rank and runner.iter + 1 == self.stop_iter:
            if self.how == 'exit':
                os._exit(3)  # the process dies without any cleanup
            time.sleep(3600)  # the process stops responding
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def probe_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('probe')
    (d / 'stadl_dist_probe.py').write_text(textwrap.dedent(PROBE))
    sys.path.insert(0, str(d))
    import stadl_dist_probe  # noqa: F401  registers the hook for in-process runs
    yield str(d)
    sys.path.remove(str(d))


def exact_config(root, meta, work_dir, probe_out, batch_size=1):
    """A tiny config whose 2-process and 1-process runs are comparable exactly."""
    cfg = tiny_runner_config(root, meta, work_dir, max_epochs=1,
                             batch_size=batch_size)
    cfg.train_dataloader.dataset.indices = 6  # the first 6 of the 10 keyframes
    cfg.model.backbone.norm_eval = True
    cfg.model.roi_head.bbox_head.dropout_ratio = 0.0
    pipe = [t for t in cfg.train_dataloader.dataset.pipeline if t.type != 'Flip']
    for t in pipe:
        if t.type == 'SampleAVAFrames':
            t.test_mode = True  # no random temporal jitter of the sampled frames
    cfg.train_dataloader.dataset.pipeline = pipe
    cfg.default_hooks.checkpoint.save_best = None
    cfg.custom_imports = dict(imports=['stadl_plugins', 'stadl_dist_probe'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='DistProbeHook', out_dir=str(probe_out))]
    cfg.randomness = dict(seed=0)
    # GPU configs ask for nccl; without CUDA it must become gloo by itself.
    cfg.env_cfg.dist_cfg = dict(backend='nccl', timeout=60)
    return cfg


def dump_config(cfg, path):
    cfg = cfg.copy()
    cfg.pop('work_dir', None)
    cfg.dump(str(path))
    return str(path)


def run(cmd, probe_dir, timeout=400, check=True, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS='ignore', PYTHON=sys.executable,
               PORT=str(free_port()),
               PYTHONPATH=f'{probe_dir}{os.pathsep}{REPO}')
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=timeout, cwd=cwd)
    if check:
        assert res.returncode == 0, (f'{" ".join(cmd)} failed:\n'
                                     f'{res.stdout[-3000:]}\n{res.stderr[-4000:]}')
    return res


def read_probe(out_dir):
    recs = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith('probe_rank'):
            with open(osp.join(out_dir, name)) as f:
                recs += [json.loads(line) for line in f]
    return recs


def dumped_keys(path):
    with open(path, 'rb') as f:
        preds = pickle.load(f)
    return [f"{p['video_id']},{int(p['timestamp']):04d}" for p in preds]


def dataset_keys(cfg, split):
    from mmaction.registry import DATASETS
    ds_cfg = cfg[f'{split}_dataloader'].dataset.copy()
    ds_cfg.pipeline = []
    ds = DATASETS.build(ds_cfg)
    return [ds.get_data_info(i)['img_key'] for i in range(len(ds))]


@pytest.fixture(scope='module')
def two_process_run(tiny_synthetic, probe_dir, tmp_path_factory):
    """tools/dist_train.sh CONFIG 2 on CPU; validation dumps every prediction."""
    root, meta = tiny_synthetic
    tmp = tmp_path_factory.mktemp('dist2')
    work, probe = tmp / 'work', tmp / 'probe'
    probe.mkdir()
    cfg = exact_config(root, meta, work, probe)
    cfg.val_evaluator = [cfg.val_evaluator,
                         dict(type='DumpResults',
                              out_file_path=str(tmp / 'val_preds.pkl'))]
    path = dump_config(cfg, tmp / 'dist2.py')
    res = run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), path, '2',
               '--work-dir', str(work)], probe_dir, cwd=str(tmp))
    return dict(cfg=cfg, path=path, work=work, probe=probe, tmp=tmp,
                log=res.stdout + res.stderr)


def test_compat_records_cpu_distributed():
    from stadl_plugins import compat
    from stadl_plugins.engine.distributed import cpu_backend, is_cpu_distributed_enabled
    assert is_cpu_distributed_enabled()
    assert 'cpu_distributed' in compat.APPLIED  # this machine has no CUDA
    assert cpu_backend('nccl') == 'gloo' and cpu_backend('gloo') == 'gloo'
    assert cpu_backend('mpi') == 'mpi'


def test_ddp_wrapper_drops_device_ids_for_cpu_module():
    # A single-process gloo group is enough to build the DDP wrapper exactly as
    # Runner.wrap_model does (device_ids=[LOCAL_RANK]).
    import torch.distributed as dist
    from mmengine.model import BaseModel, MMDistributedDataParallel
    if dist.is_initialized():
        pytest.fail('a process group is already initialised in the test process')
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{free_port()}',
                            rank=0, world_size=1)
    try:

        class Tiny(BaseModel):

            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(3, 1)

            def forward(self, x, mode='tensor'):
                return self.lin(x)

        wrapped = MMDistributedDataParallel(module=Tiny(), device_ids=[0],
                                            broadcast_buffers=False)
        assert wrapped.device_ids is None
        out = wrapped(torch.ones(2, 3))
        out.sum().backward()
        assert wrapped.module.lin.weight.grad is not None
        # free the DDP reducer (it holds the process group) before the group is
        # destroyed: destroying it later, from the reducer's destructor, joined
        # gloo's worker threads and hung in the full suite on a loaded machine
        del wrapped, out
        import gc
        gc.collect()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_cpu_training_matches_one_process(two_process_run,
                                                      tiny_synthetic, tmp_path):
    run2 = two_process_run
    # one process, batch 1, two accumulated steps = one DDP step of 2 x batch 1
    root, meta = tiny_synthetic
    probe1 = tmp_path / 'probe1'
    probe1.mkdir()
    cfg1 = exact_config(root, meta, tmp_path / 'one', probe1)
    cfg1.optim_wrapper.accumulative_counts = 2
    cfg1.val_cfg = cfg1.val_dataloader = cfg1.val_evaluator = None
    runner = Runner.from_cfg(cfg1)
    runner.train()

    one = read_probe(str(probe1))
    two = read_probe(str(run2['probe']))
    assert len(one) == 6 and len(two) == 6  # 6 keyframes, each seen once
    assert {r['rank'] for r in two} == {0, 1}
    assert {r['backend'] for r in two} == {'gloo'}  # the config asked for nccl
    for rec in two:  # rank r at step k reads sample 2k + r of the same order
        ref = one[2 * rec['iter'] + rec['rank']]
        assert rec['keys'] == ref['keys']
        assert rec['loss'] == pytest.approx(ref['loss'], rel=1e-5, abs=1e-6), rec
    # training moved the weights: the loss falls over the epoch
    assert one[-1]['loss'] < one[0]['loss']

    w2 = torch.load(str(run2['work'] / 'epoch_1.pth'), weights_only=True)
    w1 = torch.load(str(tmp_path / 'one' / 'epoch_1.pth'), weights_only=True)
    assert w2['meta']['iter'] == 3 and w1['meta']['iter'] == 6
    for k, v in w1['state_dict'].items():
        torch.testing.assert_close(w2['state_dict'][k], v, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_distributed_validation_gathers_every_sample_once(two_process_run):
    # 5 validation keyframes on 2 ranks (odd): the sampler pads rank 1 with a
    # duplicate, which the collection must drop again.
    keys = dumped_keys(run2_preds := str(two_process_run['tmp'] / 'val_preds.pkl'))
    expected = dataset_keys(two_process_run['cfg'], 'val')
    assert len(expected) == 5
    assert sorted(keys) == sorted(expected), run2_preds
    assert 'mAP/overall' in two_process_run['log']


@pytest.mark.slow
def test_distributed_test_even_count_with_dist_test_sh(two_process_run, probe_dir):
    # tools/dist_test.sh on the 10 training keyframes (even) with --dump
    tmp = two_process_run['tmp']
    cfg = two_process_run['cfg'].copy()
    train_ds = cfg.train_dataloader.dataset
    cfg.test_dataloader.dataset.ann_file = train_ds.ann_file
    cfg.test_dataloader.dataset.proposal_file = train_ds.proposal_file
    cfg.test_dataloader.dataset.exclude_file = train_ds.exclude_file
    cfg.test_evaluator.ann_file = train_ds.ann_file
    cfg.test_evaluator.exclude_file = train_ds.exclude_file
    path = dump_config(cfg, tmp / 'dist_test.py')
    dump = str(tmp / 'test_preds.pkl')
    res = run(['bash', osp.join(REPO, 'tools', 'dist_test.sh'), path,
               str(two_process_run['work'] / 'epoch_1.pth'), '2', '--work-dir',
               str(tmp / 'test_work'), '--dump', dump], probe_dir, cwd=str(tmp))
    expected = dataset_keys(cfg, 'test')
    assert len(expected) == 10
    assert sorted(dumped_keys(dump)) == sorted(expected)
    assert 'mAP/overall' in res.stdout + res.stderr


@pytest.mark.parametrize('how', ['exit', 'hang'])
@pytest.mark.slow
def test_a_dead_or_stuck_rank_fails_the_job(how, tiny_synthetic, probe_dir,
                                            tmp_path):
    """Rank 1 dies (os._exit) or stops responding after its first step.

    'exit' runs through torchrun, which stops the other workers; 'hang' runs
    through ``mim train --launcher pytorch --gpus 2`` and is ended by the
    process-group timeout (10 s here): rank 0's next all-reduce times out.
    Either way the job exits non-zero (well inside the subprocess timeout, which
    is the bound that would catch a hang) and the log names the cause.
    """
    root, meta = tiny_synthetic
    probe = tmp_path / 'probe'
    probe.mkdir()
    cfg = exact_config(root, meta, tmp_path / 'work', probe)
    cfg.custom_hooks[0].update(stop_rank=1, stop_iter=1, how=how)
    cfg.env_cfg.dist_cfg.timeout = 10
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    path = dump_config(cfg, tmp_path / f'die_{how}.py')
    work = str(tmp_path / 'work')
    if how == 'exit':
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
               '2', '--master_port', str(free_port()),
               osp.join(REPO, 'tools', 'train.py'), path, '--launcher', 'pytorch',
               '--work-dir', work]
    else:
        cmd = [osp.join(BIN, 'mim'), 'train', 'stadl_plugins', path, '--launcher',
               'pytorch', '--gpus', '2', '--port', str(free_port()), '--work-dir',
               work]
    res = run(cmd, probe_dir, timeout=300, check=False, cwd=str(tmp_path))
    log = res.stdout + res.stderr
    assert res.returncode != 0, log[-3000:]
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))
    ranks = {r['rank'] for r in read_probe(str(probe))}
    assert ranks == {0, 1}  # both ranks trained before rank 1 stopped
    if how == 'exit':
        assert 'exitcode  : 3' in log and 'rank      : 1' in log, log[-3000:]
    else:
        assert 'Timed out waiting 10000ms' in log, log[-3000:]
