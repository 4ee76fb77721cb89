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
