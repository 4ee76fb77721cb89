"""Stock MMAction2 AVADataset + pipeline on generated data and on ../shared/data."""
import numpy as np
from helpers import QUICKSTART_CONFIG, shared
from mmengine.config import Config
from mmengine.registry import init_default_scope

from stadl_plugins.utils import set_data_root


def build_split(root, meta, split):
    from mmaction.registry import DATASETS
    cfg = Config.fromfile(QUICKSTART_CONFIG)
    set_data_root(cfg, root)
    ds_cfg = cfg[f'{split}_dataloader'].dataset
    ds_cfg.timestamp_end = meta['timestamp_end']
    init_default_scope('mmaction')
    return DATASETS.build(ds_cfg)


def test_stock_ava_dataset_on_synthetic(tiny_synthetic):
    root, meta = tiny_synthetic
    ds = build_split(root, meta, 'train')
    excluded = meta['counts']['train']['excluded']
    assert len(ds) == meta['counts']['train']['keyframes'] - excluded
    item = ds[0]
    inputs, sample = item['inputs'], item['data_samples']
    assert tuple(inputs.shape) == (3, 4, 120, 160)  # C, T, H, W
    gt = sample.gt_instances
    assert gt.bboxes.shape[1] == 4 and gt.labels.shape[1] == 81
    assert (gt.labels.sum(1) >= 1).all()  # every box has an action
    # boxes came back in pixels of the 160x120 frame
    assert float(gt.bboxes[:, 2].max()) <= 160 and float(gt.bboxes.max()) > 1
    assert sample.proposals.bboxes.shape[1] == 4


def test_stock_ava_dataset_val_uses_every_annotated_keyframe(tiny_synthetic):
    root, meta = tiny_synthetic
    ds = build_split(root, meta, 'val')
    keys = {ds.get_data_info(i)['img_key'] for i in range(len(ds))}
    assert all(k.startswith('syn_val_000,') for k in keys)
    assert len(keys) == len(ds)


def test_stock_ava_dataset_on_shared_sample():
    from mmaction.datasets import AVADataset
    d = shared('ava_sample')
    ds = AVADataset(ann_file=f'{d}/ava_sample.csv', pipeline=[],
                    exclude_file=f'{d}/ava_excluded_timestamps_sample.csv',
                    label_file=f'{d}/action_list.txt',
                    proposal_file=f'{d}/ava_proposals_sample.pkl',
                    data_prefix=dict(img=d))
    # 0f39OWEqJ24,0903 and _-Z6wFjXtGQ,0902 are listed as excluded
    keys = [ds.get_data_info(i)['img_key'] for i in range(len(ds))]
    assert '0f39OWEqJ24,0903' not in keys and '0f39OWEqJ24,0902' in keys
    info = ds.get_data_info(keys.index('0f39OWEqJ24,0902'))
    assert info['proposals'].shape[1] == 4
    # the three rows of that box merge into one multi-hot instance
    labels = info['gt_labels']
    assert labels.shape == (1, 81)
    assert set(np.nonzero(labels[0])[0].tolist()) == {12, 17, 79}
