"""Benchmark v2 pretraining stage, the Pretrained loader and the feature-cache manifest."""
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import REPO

from stadl_plugins.datasets.synthetic import SyntheticV2Config, VideoConfigV2, generate_synthetic_v2

V2_STOCK = osp.join(REPO, 'configs', 'baseline',
                    'slowonly_r18-tiny_4x2x1_synthetic-v2-rgb.py')


@pytest.fixture(scope='module')
def tiny_v2(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('syn_v2'))
    cfg = SyntheticV2Config(num_train=2, num_val=1,
                            video=VideoConfigV2(min_seconds=8, max_seconds=8))
    meta = generate_synthetic_v2(root, cfg, workers=1, progress=False)
    return root, meta


@pytest.fixture(scope='module')
def pretrained(tiny_v2, tmp_path_factory):
    from stadl_plugins.benchmark.pretrain import pretrain
    root, _ = tiny_v2
    out = str(tmp_path_factory.mktemp('pretrain'))
    man = pretrain(root, out, max_iters=2, batch_size=2, num_workers=0)
    return out, man


def stock_v2_cfg(root, meta, checkpoint, work_dir):
    from mmengine.config import Config

    from stadl_plugins.utils import set_data_root
    cfg = Config.fromfile(V2_STOCK)
    set_data_root(cfg, root)
    cfg.model.init_cfg.checkpoint = checkpoint
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.timestamp_end = meta['timestamp_end']
        cfg[dl].num_workers = 0
        cfg[dl].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=10**6)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**6,
                                        by_epoch=False)
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    return cfg


def cache_v2_cfg(root, meta, checkpoint, work_dir):
    """The stock v2 config whose val loader reads the *train* split (the tiny
    data has one val video) with the val pipeline, as the feature cache reads it."""
    cfg = stock_v2_cfg(root, meta, checkpoint, work_dir)
    cfg.val_dataloader = dict(num_workers=0, dataset=cfg.train_dataloader.dataset.copy())
    cfg.val_dataloader.dataset.pipeline = [
        dict(type='SampleAVAFrames', clip_len=4, frame_interval=2, test_mode=True),
        dict(type='RawFrameDecode'),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs')]
    return cfg


def test_pretraining_writes_an_mmengine_checkpoint_once(pretrained, tiny_v2):
    from stadl_plugins.benchmark.pretrain import pretrain
    out, man = pretrained
    assert not man['cached'] and osp.isfile(man['checkpoint'])
    ck = torch.load(man['checkpoint'], map_location='cpu', weights_only=False)
    assert 'meta' in ck and any(k.startswith('backbone.') for k in ck['state_dict'])
    again = pretrain(tiny_v2[0], out, max_iters=2, batch_size=2, num_workers=0)
    assert again['cached'] and again['checkpoint_sha256'] == man['checkpoint_sha256']
    # the held-out report covers every val keyframe clip, per movement
    import collections
    import csv

    from stadl_plugins.datasets.synthetic import MOVEMENTS
    with open(osp.join(tiny_v2[0], 'annotations', 'movements_val.csv')) as f:
        counts = collections.Counter(r[6] for r in csv.reader(f))
    h = man['heldout']
    assert h['num_clips'] == sum(counts.values())
    assert [c['name'] for c in h['classes']] == list(MOVEMENTS)
    assert {c['name']: c['n'] for c in h['classes'] if c['n']} == dict(counts)
    assert again['heldout'] == h


def test_heldout_accuracy_reports_each_class(tmp_path):
    import pickle

    from stadl_plugins.benchmark.pretrain import heldout_accuracy
    gt = [0, 0, 1, 1, 1, 2]
    pred = [0, 1, 1, 1, 1, 1]  # class 2 never right, class 0 half the time
    res = [dict(gt_label=torch.tensor([g]), pred_score=torch.eye(3)[p])
           for g, p in zip(gt, pred)]
    path = tmp_path / 'dump.pkl'
    path.write_bytes(pickle.dumps(res))
    h = heldout_accuracy(str(path), ('a', 'b', 'c', 'd'))
    assert h['num_clips'] == 6 and h['top1'] == pytest.approx(4 / 6)
    assert h['classes'] == [dict(name='a', n=2, acc=0.5), dict(name='b', n=3, acc=1.0),
                            dict(name='c', n=1, acc=0.0), dict(name='d', n=0, acc=None)]
    assert h['mean_class_acc'] == pytest.approx(0.5)


def test_v2_config_loads_the_backbone_with_init_cfg(pretrained, tiny_v2, tmp_path):
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    _, man = pretrained
    cfg = stock_v2_cfg(*tiny_v2, man['checkpoint'], tmp_path)
    assert cfg.model.init_cfg.type == 'Pretrained'
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    model.init_weights()
    sd = torch.load(man['checkpoint'], map_location='cpu', weights_only=False)['state_dict']
    mine = model.state_dict()
    keys = [k for k in sd if k.startswith('backbone.')]
    assert keys and all(torch.equal(mine[k], sd[k]) for k in keys)


@pytest.mark.slow
def test_tiny_detector_run_from_the_pretrained_backbone(pretrained, tiny_v2, tmp_path):
    from mmengine.runner import Runner
    _, man = pretrained
    runner = Runner.from_cfg(stock_v2_cfg(*tiny_v2, man['checkpoint'], tmp_path))
    runner.train()
    assert runner.iter == 2


def test_feature_cache_refuses_a_stale_manifest(pretrained, tiny_v2, tmp_path):
    from stadl_plugins.benchmark.feature_cache import (
        StaleCacheError,
        build_feature_cache,
        load_feature_cache,
    )
    _, man = pretrained
    root, meta = tiny_v2
    cfg = cache_v2_cfg(root, meta, man['checkpoint'], tmp_path / 'w')
    ckpt = man['checkpoint']
    cache_dir = str(tmp_path / 'cache')
    built = build_feature_cache(cfg, ckpt, cache_dir, split='train', limit=3,
                                progress=False)
    cache = load_feature_cache(cache_dir, cfg, ckpt, 'train', limit=3)
    assert cache.features.dtype == np.float16 and len(cache) == 3
    assert cache.features.shape[1:3] == (64, 4)  # channels, time
    assert cache.index[0]['key'].startswith('syn2_train_')
    assert cache.index[0]['proposals'].shape[1] == 4
    # a second build with the same inputs reuses it
    assert build_feature_cache(cfg, ckpt, cache_dir, split='train', limit=3,
                               progress=False) == built
    # another checkpoint (same name, other bytes)
    other = tmp_path / 'other' / osp.basename(ckpt)
    other.parent.mkdir()
    sd = torch.load(ckpt, map_location='cpu', weights_only=False)
    sd['state_dict'] = {k: v + 1 if v.is_floating_point() else v
                        for k, v in sd['state_dict'].items()}
    torch.save(sd, other)
    with pytest.raises(StaleCacheError, match='checkpoint_sha256'):
        load_feature_cache(cache_dir, cfg, str(other), 'train', limit=3)
    with pytest.raises(StaleCacheError, match='checkpoint_sha256'):
        build_feature_cache(cfg, str(other), cache_dir, split='train', limit=3,
                            progress=False)
    # another backbone config / pipeline
    cfg2 = cfg.copy()
    cfg2.model.backbone.base_channels = 16
    with pytest.raises(StaleCacheError, match='backbone_config'):
        load_feature_cache(cache_dir, cfg2, ckpt, 'train', limit=3)
    cfg3 = cfg.copy()
    cfg3.val_dataloader.dataset.pipeline[0]['clip_len'] = 8
    with pytest.raises(StaleCacheError, match='dataset_config'):
        load_feature_cache(cache_dir, cfg3, ckpt, 'train', limit=3)
    # an interrupted build (no manifest) is refused too
    import os
    os.remove(osp.join(cache_dir, 'manifest.json'))
    with pytest.raises(StaleCacheError, match='incomplete'):
        load_feature_cache(cache_dir, cfg, ckpt, 'train', limit=3)


@pytest.fixture(scope='module')
def train_split_cache(pretrained, tiny_v2, tmp_path_factory):
    from stadl_plugins.benchmark.feature_cache import build_feature_cache, load_feature_cache
    _, man = pretrained
    root, meta = tiny_v2
    work = tmp_path_factory.mktemp('cache_train')
    cfg = cache_v2_cfg(root, meta, man['checkpoint'], work / 'w')
    cache_dir = str(work / 'cache')
    build_feature_cache(cfg, man['checkpoint'], cache_dir, split='train', limit=4,
                        progress=False)
    return cfg, load_feature_cache(cache_dir, cfg, man['checkpoint'], 'train', limit=4)


def _full_model(cfg, checkpoint, seed):
    """The end-to-end detector (real backbone) with the cached model's head weights."""
    from mmaction.registry import MODELS
    from mmengine.config import ConfigDict
    from mmengine.runner import load_checkpoint

    from stadl_plugins.benchmark.cached_heads import build_cached_model
    torch.manual_seed(seed)
    cached = build_cached_model(cfg)
    model_cfg = ConfigDict(cfg.model.to_dict())
    model_cfg.pop('init_cfg', None)
    full = MODELS.build(model_cfg)
    load_checkpoint(full, checkpoint, map_location='cpu', strict=False, logger='silent')
    full.roi_head.load_state_dict(cached.roi_head.state_dict())
    return cached, full


def _dataset_items(cfg, n):
    from mmaction.registry import DATASETS

    from stadl_plugins.benchmark.feature_cache import _split_dataset_cfg
    ds = DATASETS.build(_split_dataset_cfg(cfg, 'train'))
    return [ds[i] for i in range(n)]


def test_cached_head_predicts_what_the_end_to_end_detector_predicts(train_split_cache, pretrained):
    """The outside reference is mmdet/MMAction2's own end-to-end test_step."""
    from mmengine.dataset import pseudo_collate

    from stadl_plugins.benchmark.cached_heads import pack_detections, predict_on_cache
    cfg, cache = train_split_cache
    _, man = pretrained
    cached, full = _full_model(cfg, man['checkpoint'], seed=0)
    full.eval()
    mine = predict_on_cache(cached, cache, list(range(1, 10)), progress=False)
    items = _dataset_items(cfg, len(cache))
    assert len(mine) == len(items)
    with torch.no_grad():
        for item in items:
            out = full.test_step(pseudo_collate([item]))[0]
            key, (b, lab, s) = pack_detections(out, list(range(1, 10)))
            mb, ml, ms = mine[key]
            np.testing.assert_array_equal(lab, ml)
            np.testing.assert_allclose(b, mb, atol=1e-6)
            # float16 cache vs float32 end to end: scores agree to the cache's precision
            np.testing.assert_allclose(s, ms, atol=2e-3)


def test_cached_head_loss_equals_the_end_to_end_loss(train_split_cache, pretrained):
    from mmengine.dataset import pseudo_collate

    from stadl_plugins.benchmark.cached_heads import _batch, cache_data_samples
    cfg, cache = train_split_cache
    _, man = pretrained
    cached, full = _full_model(cfg, man['checkpoint'], seed=1)
    cached.train()
    full.train()
    for m in (cached, full):       # no dropout, no BN statistics: a deterministic loss
        m.roi_head.bbox_head.dropout_ratio = 0
        m.roi_head.bbox_head.dropout = torch.nn.Identity()
    with torch.no_grad():          # logits far from 0, so the loss sees the features
        cached.roi_head.bbox_head.fc_cls.weight.mul_(300)
        full.roi_head.bbox_head.fc_cls.weight.copy_(cached.roi_head.bbox_head.fc_cls.weight)
    full.backbone.eval()
    items = _dataset_items(cfg, 2)
    data = full.data_preprocessor(pseudo_collate(items), True)
    torch.manual_seed(5)
    ref = full.loss(data['inputs'], data['data_samples'])
    torch.manual_seed(5)
    got = cached.loss(_batch(cache, [0, 1]), cache_data_samples(cache.index[:2]))
    assert set(ref) == set(got)
    for k in ref:
        if 'loss' in k:
            torch.testing.assert_close(got[k], ref[k], atol=2e-3, rtol=2e-3)


def test_train_on_cache_updates_only_the_head_and_is_seeded(train_split_cache):
    from stadl_plugins.benchmark.cached_heads import CachedFeatures, train_on_cache
    cfg, cache = train_split_cache
    a = train_on_cache(cfg, cache, iters=3, batch_size=2, seed=3, progress=False)
    b = train_on_cache(cfg, cache, iters=3, batch_size=2, seed=3, progress=False)
    c = train_on_cache(cfg, cache, iters=3, batch_size=2, seed=4, progress=False)
    assert isinstance(a.backbone, CachedFeatures)
    sa, sb, sc = (m.roi_head.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    assert a.cache_train_info['iters'] == 3
    assert np.isfinite(a.cache_train_info['final_loss'])


def test_cache_rows_own_their_arrays():
    """A view would keep its tensor's whole base buffer alive (the 23 GB leak)."""
    from stadl_plugins.benchmark.feature_cache import _own, _plain_metainfo
    base = torch.zeros(1000, 81)
    got = _own(base[:3])
    assert got.flags.owndata and got.base is None and got.shape == (3, 81)
    meta = _plain_metainfo(dict(a=np.zeros((100, 4))[:1], b='x', f=open))
    assert meta['a'].flags.owndata and 'f' not in meta


def test_actor_clips_can_be_class_balanced(tiny_v2):
    """``get_cat_ids`` + ``classes`` let mmdet's ClassAwareSampler balance the
    movements (the plain sampler sees ~85 % stand/walk)."""
    import collections

    from mmdet.datasets.samplers import ClassAwareSampler

    from stadl_plugins.datasets.synthetic_recognition import SyntheticActorClipDataset
    root, _ = tiny_v2
    ds = SyntheticActorClipDataset(osp.join(root, 'annotations', 'movements_train.csv'),
                                   pipeline=[], data_prefix=dict(img=osp.join(root, 'rawframes')))
    assert ds.metainfo['classes'][:2] == ('stand', 'walk')
    labels = [ds.get_data_info(i)['label'] for i in range(len(ds))]
    assert [ds.get_cat_ids(i) for i in range(len(ds))] == [[lab] for lab in labels]
    present = sorted(set(labels))
    drawn = collections.Counter(labels[i] for i in ClassAwareSampler(ds, seed=0))
    assert sorted(drawn) == present and len(present) >= 3, (drawn, collections.Counter(labels))
    # every present class is drawn about equally often, whatever its frequency
    assert max(drawn.values()) - min(drawn.values()) <= 2 * len(present)
