"""Every config in configs/ parses and builds its model (and dataset classes exist)."""
import glob
import os.path as osp

import pytest
from helpers import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                      recursive=True) if '_base_' not in p)


def test_there_are_configs():
    assert CONFIGS


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds(path):
    from mmaction.registry import DATASETS, METRICS, MODELS
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['stadl_plugins']
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(dl):
            assert DATASETS.get(cfg[dl].dataset.type) is not None
    evs = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
        cfg.test_evaluator]
    for ev in evs:
        assert METRICS.get(ev.type) is not None


AVA_FORMAT = [p for p in CONFIGS if 'AVA' in open(p).read() or '/ava/' in p
              or 'synthetic-rgb' in osp.basename(p)]


@pytest.mark.parametrize('path', AVA_FORMAT, ids=lambda p: osp.relpath(p, REPO))
def test_ava_format_configs_run_with_the_checks_on(path):
    """Every shipped AVA-format config validates its inputs by default
    (CheckedAVADataset, AVAFrameAPMetric: file:line errors, label-map checks)."""
    cfg = Config.fromfile(path)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg.get(dl) and cfg[dl].dataset
        if ds and 'AVA' in ds.type:
            assert ds.type in ('CheckedAVADataset', 'AVATestDataset'), (dl, ds.type)
    for key in ('val_evaluator', 'test_evaluator'):
        ev = cfg.get(key)
        if ev and 'AVA' in ev.get('type', ''):
            assert ev.type == 'AVAFrameAPMetric', (key, ev.type)
