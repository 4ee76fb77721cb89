"""Shared test helpers (paths, tiny dataset/config builders); fixtures live in conftest.py.

Import with ``from helpers import ...`` (tests/ is on ``sys.path`` because pytest
imports tests/conftest.py from there).
"""
import os
import os.path as osp

TESTS_DIR = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TESTS_DIR)
SHARED_DATA = os.environ.get('STADL_SHARED_DATA',
                             osp.join(osp.dirname(REPO), 'shared', 'data'))
QUICKSTART_CONFIG = osp.join(REPO, 'configs', 'baseline',
                             'slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py')


def shared(*parts):
    path = osp.join(SHARED_DATA, *parts)
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{path} is missing: the tests need ../shared/data beside the repo '
            '(or STADL_SHARED_DATA pointing at it)')
    return path


def tiny_synthetic_config(seed=0, **video):
    from stadl_plugins.datasets.synthetic import SyntheticConfig, VideoConfig
    v = dict(seconds=6)
    v.update(video)
    return SyntheticConfig(seed=seed, num_train=2, num_val=1, video=VideoConfig(**v))


def tiny_runner_config(data_root, meta, work_dir, config=QUICKSTART_CONFIG,
                       max_epochs=1, batch_size=4):
    """A config from ``configs/`` pointed at a tiny dataset, for fast CPU runs."""
    from mmengine.config import Config

    from stadl_plugins.utils import set_data_root
    cfg = Config.fromfile(config)
    set_data_root(cfg, data_root)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.timestamp_end = meta['timestamp_end']
        cfg[dl].num_workers = 0
        cfg[dl].persistent_workers = False
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_begin = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    return cfg


class _ParserCaptured(BaseException):
    """Raised by :func:`capture_parser`'s spy (a BaseException: no ``except Exception``
    in a script swallows it)."""


def capture_parser(script=None, module=None):
    """The top-level ``argparse`` parser a CLI builds, with nothing after it run.

    ``script`` (a path relative to the repo) runs as ``python script`` would, or
    ``module`` as ``python -m module``; ``ArgumentParser.parse_known_args`` is
    replaced by a spy that records the parser and stops the run there, so no job
    starts, whether or not the CLI exposes its parser.
    """
    import argparse
    import runpy
    import sys
    got = []

    def spy(self, args=None, namespace=None):
        got.append(self)
        raise _ParserCaptured

    orig, old_argv, old_path = argparse.ArgumentParser.parse_known_args, sys.argv, list(sys.path)
    argparse.ArgumentParser.parse_known_args = spy
    try:
        if script is not None:
            path = osp.join(REPO, script)
            sys.argv = [path]
            sys.path.insert(0, osp.dirname(path))  # as `python script` does
            runpy.run_path(path, run_name='__main__')
        else:
            sys.argv = [module]
            runpy.run_module(module, run_name='__main__', alter_sys=True)
    except _ParserCaptured:
        pass
    finally:
        argparse.ArgumentParser.parse_known_args = orig
        sys.argv, sys.path[:] = old_argv, old_path
    if not got:
        raise AssertionError(f'{script or module} ran to the end without parsing arguments')
    return got[0]


def det_sample(gt_flow=None, h=64, w=80):
    """One ``ActionDataSample`` of a 64x80 keyframe with two GT boxes (stand, walk)
    that are also the proposals; ``gt_flow`` is set as a field if given."""
    import torch
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(h, w), img_key='v,0901', video_id='v', timestamp=901))
    boxes = torch.tensor([[8., 8., 40., 60.], [40., 10., 70., 60.]])
    labels = torch.zeros(2, 81)
    labels[0, 12] = labels[1, 14] = 1
    s.gt_instances = InstanceData(bboxes=boxes, labels=labels)
    s.proposals = InstanceData(bboxes=boxes.clone())
    if gt_flow is not None:
        s.set_field(gt_flow, 'gt_flow')
    return s
