"""The integrated two-stream model: GT-flow loading, shared backbone, frozen flow
subnet, flow loss through FlowFastRCNN, and the unfreeze hook in a real Runner."""
import glob
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import REPO, det_sample, tiny_runner_config
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from stadl_plugins.datasets.transforms import LoadFlowGT, compose_flows
from stadl_plugins.datasets.transforms.flow_loading import pair_indices
from stadl_plugins.models.backbones import FlowTwoStreamBackbone
from stadl_plugins.models.detectors import FlowFastRCNN
from stadl_plugins.models.flow.warp import flow_warp

CFG = f'{REPO}/configs/pwc_flow/pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py'


def test_pair_indices():
    assert pair_indices(3) == [(0, 1), (1, 2)]
    assert pair_indices(8, 3, 2) == [(2, 4), (4, 6)]
    assert pair_indices(4, 3, 1, 'outer') == [(1, 3)]
    with pytest.raises(ValueError, match='do not fit'):
        pair_indices(3, 3, 2)


def test_compose_flows_chains_translations():
    flows = np.zeros((4, 20, 30, 2), np.float32)
    flows[..., 0] = 1.0                         # everything moves +1 px in x per frame
    flows[2, ..., 1] = 2.0                      # and +2 px in y between frames 2 and 3
    out = compose_flows(flows, 0, 4)
    np.testing.assert_allclose(out[5:15, 5:20], np.broadcast_to([4.0, 2.0], (10, 15, 2)),
                               atol=1e-5)
    same = compose_flows(flows, 1, 1)
    assert same.shape == (20, 30, 2) and np.all(same == 0)


def _results(root, vid, inds, flip=False):
    import cv2
    frames = [cv2.imread(osp.join(root, 'rawframes', vid, f'img_{i:05d}.jpg'))[..., ::-1]
              for i in inds]
    imgs = [np.ascontiguousarray(f[:, ::-1]) if flip else f for f in frames]
    return dict(video_id=vid, frame_inds=np.array(inds), start_index=1,
                img_shape=imgs[0].shape[:2], flip=flip, flip_direction='horizontal',
                imgs=imgs)


def test_load_flow_gt_matches_frames_and_follows_flip(tiny_synthetic):
    root, meta = tiny_synthetic
    vid = sorted(osp.basename(p)[:-4] for p in glob.glob(osp.join(root, 'flow', '*.npz')))[0]
    load = LoadFlowGT(flow_prefix=osp.join(root, 'flow'))
    res = load(_results(root, vid, [20, 21, 22]))
    gt = res['gt_flow']
    H, W = res['img_shape']
    assert gt.shape == (2, 2, H, W) and gt.dtype == torch.float32
    raw = np.load(osp.join(root, 'flow', f'{vid}.npz'))['flow']
    # adjacent frames: exactly the stored flow of 0-based frame 19 (file img_00020)
    torch.testing.assert_close(gt[0], torch.from_numpy(raw[19].astype(np.float32)).permute(2, 0, 1))
    # on moving pixels, the GT warps the second frame of a pair back onto the first
    errs, bases = [], []
    for p, (a, b) in enumerate([(0, 1), (1, 2)]):
        f1 = torch.from_numpy(res['imgs'][a].astype(np.float32)).permute(2, 0, 1)[None]
        f2 = torch.from_numpy(res['imgs'][b].astype(np.float32)).permute(2, 0, 1)[None]
        warped, mask = flow_warp(f2, gt[p:p + 1], return_mask=True)
        moving = mask * (gt[p:p + 1].norm(dim=1, keepdim=True) >= 1.0)
        errs.append(((warped - f1).abs().mean(1, keepdim=True) * moving).sum())
        bases.append(((f2 - f1).abs().mean(1, keepdim=True) * moving).sum())
    assert sum(bases) > 0 and sum(errs) < 0.6 * sum(bases)
    # frames two apart: composed flows
    wide = load(_results(root, vid, [20, 22, 24]))['gt_flow']
    assert wide.shape == gt.shape and not torch.allclose(wide, gt)
    flipped = load(_results(root, vid, [20, 21, 22], flip=True))['gt_flow']
    torch.testing.assert_close(flipped[:, 0], -gt[:, 0].flip(-1))
    torch.testing.assert_close(flipped[:, 1], gt[:, 1].flip(-1))


def _build_model(fusion='concat', out_scale=-1):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(CFG).model
    cfg.backbone.fusion = fusion
    cfg.backbone.out_scale = out_scale
    if fusion == 'stfp' and out_scale == 0:
        cfg.roi_head.bbox_head.in_channels = 16
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('fusion,out_scale', [('concat', -1), ('sum', -1), ('average', -1),
                                              ('stfp', 0)])
def test_loss_and_predict_shared_backbone_frozen_then_unfrozen(fusion, out_scale):
    torch.manual_seed(0)
    model = _build_model(fusion, out_scale)
    assert isinstance(model, FlowFastRCNN)
    bb = model.backbone
    assert isinstance(bb, FlowTwoStreamBackbone)
    # ONE inner backbone serves both streams
    inner = [m for m in model.modules() if type(m).__name__ == 'ResNet3dSlowOnly']
    assert len(inner) == 1
    assert all(not p.requires_grad for p in bb.flow_net.parameters())
    inputs = [torch.randint(0, 255, (3, 3, 64, 80), dtype=torch.uint8) for _ in range(2)]
    gts = [torch.randn(2, 2, 64, 80) for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=[det_sample(g) for g in gts]), True)
    losses = model(**data, mode='loss')
    assert 'flow_epe' in losses and 'loss_flow' not in losses          # frozen: no flow loss
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in bb.flow_net.parameters())
    assert bb.flow_fuse[0].weight.grad.abs().sum() > 0                 # the flow image learns
    assert bb.last_flow.shape == (2, 2, 2, 64, 80)
    bb.set_flow_trainable(True)
    model.zero_grad()
    data = model.data_preprocessor(                      # the RoI head consumed the proposals
        dict(inputs=inputs, data_samples=[det_sample(g) for g in gts]), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_flow'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is not None for p in bb.flow_net.parameters())
    # the flow stream matters: a different flow image changes the features
    x = data['inputs']
    with torch.no_grad():
        bb.eval()
        base = bb(x)
        bb.flow_fuse[0].bias.add_(1.0)
        assert not torch.allclose(bb(x), base)
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=[det_sample()]), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].pred_instances.scores.shape == (2, 81)


def test_flow_loss_checks_gt_shape():
    model = _build_model()
    inputs = [torch.randint(0, 255, (3, 3, 64, 80), dtype=torch.uint8)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample(torch.zeros(1, 2, 64, 80))]),
                                   True)
    with pytest.raises(ValueError, match='gt_flow'):
        model(**data, mode='loss')


class FlowStateRecorder(Hook):
    """Records, before each iteration, whether the flow subnet trains and its weights."""

    priority = 'LOWEST'

    def __init__(self):
        self.trainable, self.weights = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        bb = runner.model.backbone
        self.trainable.append(bb.flow_trainable)
        self.weights.append(bb.flow_net.encoder['level1'][0].weight.detach().clone())


@pytest.mark.slow
def test_runner_unfreezes_at_the_right_iteration_and_evaluates(tiny_synthetic, tmp_path):
    root, meta = tiny_synthetic
    work = tmp_path / 'two_stream'
    cfg = tiny_runner_config(root, meta, work, config=CFG, max_epochs=1, batch_size=2)
    cfg.custom_hooks = [dict(type='FlowUnfreezeHook', unfreeze_iter=2)]
    cfg.default_hooks.checkpoint.save_best = None
    runner = Runner.from_cfg(cfg)
    rec = FlowStateRecorder()
    runner.register_hook(rec)
    runner.train()
    n = len(rec.trainable)
    assert n >= 4
    assert rec.trainable == [False, False] + [True] * (n - 2)
    # weights do not move while frozen, and move once trained
    assert torch.equal(rec.weights[0], rec.weights[1]) and torch.equal(rec.weights[1], rec.weights[2])
    assert not torch.equal(rec.weights[2], rec.weights[-1])
    logged = []
    for path in glob.glob(str(work / '*' / 'vis_data' / 'scalars.json')):
        with open(path) as f:
            logged += [json.loads(line) for line in f]
    assert all('flow_epe' in r for r in logged if 'loss' in r)
    with_flow = [r for r in logged if 'loss_flow' in r]
    assert with_flow and all(r['iter'] >= 3 for r in with_flow)       # logged iters are 1-based
    metrics = runner.test()
    assert 'mAP/overall' in metrics and math.isfinite(metrics['mAP/overall'])


# the two-stream configs with a PWC-Net flow subnet (the v2 flow-block config is fed
# flows from the pipeline: no subnet, no flow loss)
TWO_STREAM_CONFIGS = sorted(p for p in glob.glob(f'{REPO}/configs/**/*.py', recursive=True)
                            if 'FlowTwoStreamBackbone' in open(p).read()
                            and "type='PWCNet'" in open(p).read())
# Hand-computed paper loss (Zhang et al. Eq. 1 with PWC-Net's alpha_i, Eq. 8 weight 1)
# for level predictions of zero and a ground truth of (3, 4) px everywhere: every
# pixel of every level has ||0 - (3, 4) / 20||_2 = 0.25, summed over its pixels.
#   tiny config, 64x64 input, 'pad' (network 64x64), levels 4, 3, 2:
#     4x4, 8x8, 16x16 px, alpha 0.02, 0.01, 0.005
#     -> 0.25 * (0.02*16 + 0.01*64 + 0.005*256) = 0.25 * 2.24 = 0.56
#   AVA config, 320x320 input (= its input_size), levels 6..2:
#     5x5, 10x10, 20x20, 40x40, 80x80 px, alpha 0.32, 0.08, 0.02, 0.01, 0.005
#     -> 0.25 * (8 + 8 + 8 + 16 + 32) = 18.0
PAPER_LOSS = {'pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py': (64, 0.56),
              'pwc-two-stream_r50_4xb10-3x1x1-150k_ava21-rgb-320.py': (320, 18.0)}


def _config_model(path):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(path).model
    if 'r50' in osp.basename(path):      # same flow subnet and loss, a cheap inner net
        cfg.backbone.backbone.depth = 18
        cfg.backbone.backbone.base_channels = 8
        cfg.backbone.stage_channels = (16, 32, 64)
        cfg.roi_head.bbox_head.in_channels = 64
    return MODELS.build(cfg)


def _constructed_flow_state(bb, size, n=2):
    """Zero flow at every level of the subnet, for ``n`` clips of ``size x size``."""
    net = bb.flow_net
    P = bb.num_pairs
    bb.last_flow = torch.zeros(n, P, 2, size, size)
    Hn, Wn = net.network_size(size, size)
    bb._last_levels = {lvl: torch.zeros(P * n, 2, Hn // 2 ** lvl, Wn // 2 ** lvl)
                       for lvl in range(net.num_levels, net.output_level - 1, -1)}
    gt = torch.zeros(P, 2, size, size)
    gt[:, 0], gt[:, 1] = 3.0, 4.0
    return [det_sample(gt.clone(), size, size) for _ in range(n)]


def test_every_two_stream_config_has_the_paper_flow_loss():
    """Shipped configs: loss_flow = the per-pixel EPE *sum* (PWC-Net's alpha_i,
    GT / 20), weight 1 (Eq. 8); checked against the numbers computed by hand."""
    assert {osp.basename(p) for p in TWO_STREAM_CONFIGS} == set(PAPER_LOSS)
    for path in TWO_STREAM_CONFIGS:
        model = _config_model(path)
        bb = model.backbone
        assert bb.flow_loss_reduction == 'sum', path
        assert model.flow_loss_weight == 1.0, path
        size, expect = PAPER_LOSS[osp.basename(path)]
        bb.set_flow_trainable(True)
        out = bb.flow_losses(_constructed_flow_state(bb, size), model.flow_loss_weight)
        assert out['loss_flow'].item() == pytest.approx(expect, rel=1e-5), path
        assert out['flow_epe'].item() == pytest.approx(5.0, rel=1e-5)   # ||(3, 4)|| px


def test_mean_over_pixels_is_only_an_explicit_option():
    import inspect
    sig = inspect.signature(FlowTwoStreamBackbone.__init__)
    assert sig.parameters['flow_loss_reduction'].default == 'sum'
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(CFG).model
    del cfg.backbone['flow_loss_reduction']                 # the class default
    model = MODELS.build(cfg)
    model.backbone.set_flow_trainable(True)
    out = model.backbone.flow_losses(_constructed_flow_state(model.backbone, 64), 1.0)
    assert out['loss_flow'].item() == pytest.approx(0.56, rel=1e-5)
    cfg.backbone.flow_loss_reduction = 'mean'               # asked for explicitly
    model = MODELS.build(cfg)
    model.backbone.set_flow_trainable(True)
    out = model.backbone.flow_losses(_constructed_flow_state(model.backbone, 64), 1.0)
    # per-level mean: 0.25 * (0.02 + 0.01 + 0.005)
    assert out['loss_flow'].item() == pytest.approx(0.00875, rel=1e-5)
    cfg.backbone.flow_loss_reduction = 'average'
    with pytest.raises(ValueError, match="'sum' \\(the paper\\)"):
        MODELS.build(cfg)


# ------------------------------------------------- flows from outside the model
def _textured_shifts(shifts, h=60, w=80, seed=0):
    """Frames of one smooth random texture translated by ``shifts`` (dx, dy) px."""
    import cv2
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.random((h + 40, w + 40)).astype(np.float32), (0, 0), 2.0)
    big = (255 * (big - big.min()) / (big.max() - big.min())).astype(np.uint8)
    out = []
    for dx, dy in shifts:
        # content at (x, y) of frame 0 is at (x + dx, y + dy) here
        crop = big[20 - dy:20 - dy + h, 20 - dx:20 - dx + w]
        out.append(np.repeat(crop[..., None], 3, 2))
    return out


@pytest.mark.parametrize('method', ['farneback', 'dis', 'tvl1'])
def test_compute_flow_recovers_known_translations_in_pair_order(method):
    from stadl_plugins.datasets.transforms import ComputeFlow
    # 5 sampled frames: the pairs of K = 3 around the centre are (1, 2) and (2, 3)
    imgs = _textured_shifts([(0, 0), (0, 0), (2, 0), (4, 1), (4, 1)])
    res = ComputeFlow(method=method)(dict(imgs=imgs))
    flow = res['input_flow']
    assert flow.shape == (2, 2, 60, 80) and flow.dtype == torch.float32
    inner = flow[:, :, 15:-15, 15:-15].flatten(2).median(-1).values
    torch.testing.assert_close(inner, torch.tensor([[2., 0.], [2., 1.]]), atol=0.3, rtol=0)
    with pytest.raises(ValueError, match='before FormatShape'):
        ComputeFlow(method=method)(dict(imgs=np.zeros((1, 3, 5, 60, 80))))
    with pytest.raises(ValueError, match='method must be one of'):
        ComputeFlow(method='raft')


def test_tvl1_epsilon_reaches_opencv_and_is_checked():
    """A loose stopping criterion changes the TV-L1 flow (it is passed to OpenCV)
    and still recovers the translation; a non-positive one is refused."""
    from stadl_plugins.datasets.transforms import ComputeFlow
    imgs = _textured_shifts([(0, 0), (0, 0), (2, 0), (4, 1), (4, 1)])
    exact = ComputeFlow(method='tvl1')(dict(imgs=imgs))['input_flow']
    loose_t = ComputeFlow(method='tvl1', tvl1_epsilon=0.05)
    loose = loose_t(dict(imgs=imgs))['input_flow']
    assert not torch.equal(exact, loose) and 'tvl1_epsilon=0.05' in repr(loose_t)
    inner = loose[:, :, 15:-15, 15:-15].flatten(2).median(-1).values
    torch.testing.assert_close(inner, torch.tensor([[2., 0.], [2., 1.]]), atol=0.3, rtol=0)
    with pytest.raises(ValueError, match='tvl1_epsilon must be > 0'):
        ComputeFlow(method='tvl1', tvl1_epsilon=0)


def _source_model(source):
    from mmdet.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(CFG).model
    cfg.backbone.flow_source = source
    cfg.backbone.flow_net = None
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_input_flow_source_uses_the_given_flow_and_measures_it():
    torch.manual_seed(0)
    model = _source_model('input')
    bb = model.backbone
    assert bb.flow_net is None and bb.flow_source == 'input'
    inputs = [torch.randint(0, 255, (3, 3, 64, 80), dtype=torch.uint8) for _ in range(2)]
    given = [torch.randn(2, 2, 64, 80) for _ in range(2)]
    gts = [g + 0.5 for g in given]

    def samples(with_flow=True, gt=True):
        out = []
        for g, f in zip(gts, given):
            s = det_sample(g if gt else None)
            if with_flow:
                s.set_field(f, 'input_flow')
            out.append(s)
        return out

    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples()), True)
    losses = model(**data, mode='loss')
    torch.testing.assert_close(bb.last_flow, torch.stack(given))
    assert 'loss_flow' not in losses                       # no flow subnet to train
    # flow_epe measures the given flow against the GT: |(0.5, 0.5)| everywhere
    assert float(losses['flow_epe']) == pytest.approx(math.sqrt(0.5), rel=1e-5)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert bb.flow_fuse[0].weight.grad.abs().sum() > 0
    # the flow matters: another flow, other features
    with torch.no_grad():
        bb.eval()
        x = data['inputs']
        a = bb(x, input_flow=torch.stack(given))
        b = bb(x, input_flow=torch.stack(given) * 3)
    assert not torch.allclose(a, b)
    model.eval()
    data = model.data_preprocessor(dict(inputs=inputs[:1], data_samples=samples()[:1]), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].pred_instances.scores.shape == (2, 81)
    model.train()
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples(False)), True)
    with pytest.raises(ValueError, match='carry no input_flow'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match=r'input_flow \(1, 2, 2, 8, 8\) does not match'):
        bb(data['inputs'], input_flow=torch.zeros(1, 2, 2, 8, 8))
    with pytest.raises(ValueError, match='needs input_flow'):
        bb(data['inputs'])


def test_zero_and_frame_difference_sources():
    model = _source_model('zero')
    inputs = [torch.randint(0, 255, (3, 3, 64, 80), dtype=torch.uint8)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample()]), True)
    losses = model(**data, mode='loss')
    assert torch.all(model.backbone.last_flow == 0) and 'loss_flow' not in losses
    model = _source_model('frame_difference')
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[det_sample()]), True)
    model(**data, mode='loss')
    x = data['inputs']
    want = torch.stack([(x[:, :, 1] - x[:, :, 0]).mean(1), (x[:, :, 2] - x[:, :, 1]).mean(1)],
                       1)[:, :, None].expand(1, 2, 2, 64, 80) * 20
    torch.testing.assert_close(model.backbone.last_flow, want)
    with pytest.raises(ValueError, match='flow_source must be one of'):
        FlowTwoStreamBackbone(None, dict(type='mmaction.ResNet3dSlowOnly'), [8],
                              flow_source='raft')
    with pytest.raises(ValueError, match='needs a flow_net'):
        FlowTwoStreamBackbone(None, dict(type='mmaction.ResNet3dSlowOnly'), [8])
    with pytest.raises(ValueError, match='set flow_net=None'):
        FlowTwoStreamBackbone(dict(type='PWCNet'), dict(type='mmaction.ResNet3dSlowOnly'),
                              [8], flow_source='zero')


def test_inner_backbone_loads_a_recognizers_prefixed_checkpoint(tmp_path):
    # the v2 two-stream rows start from the pretraining stage's Recognizer3D
    # checkpoint (backbone.* + cls_head.*); the inner backbone's own keys are
    # backbone.backbone.* in the detector, out of a detector-level init_cfg's reach
    torch.manual_seed(0)
    donor = _source_model('zero').backbone.backbone
    sd = {f'backbone.{k}': v.clone() + 1.0 for k, v in donor.state_dict().items()
          if v.is_floating_point()}
    sd.update({f'backbone.{k}': v.clone() for k, v in donor.state_dict().items()
               if not v.is_floating_point()})
    sd['cls_head.fc_cls.weight'] = torch.zeros(3, 4)
    path = str(tmp_path / 'recognizer.pth')
    torch.save({'state_dict': sd, 'meta': {}}, path)
    from mmdet.registry import MODELS
    cfg = Config.fromfile(CFG).model
    cfg.backbone.update(flow_source='zero', flow_net=None, backbone_pretrained=path)
    model = MODELS.build(cfg)
    model.init_weights()
    inner = model.backbone.backbone.state_dict()
    for k, v in inner.items():
        torch.testing.assert_close(v, sd[f'backbone.{k}'], msg=k)
    info = model.backbone.backbone_load_info
    assert info['loaded'] == len(inner) and info['ignored'] == 1
    # the wrong prefix raises with the fix, instead of loading nothing
    cfg.backbone.backbone_prefix = 'model.'
    with pytest.raises(KeyError, match="set backbone_prefix"):
        MODELS.build(cfg).init_weights()
    # a backbone of another width: the shapes are named
    cfg.backbone.backbone_prefix = 'backbone.'
    cfg.backbone.backbone.base_channels = 16
    cfg.backbone.stage_channels = [c * 2 for c in cfg.backbone.stage_channels]
    with pytest.raises(ValueError, match='differ in shape'):
        MODELS.build(cfg).init_weights()


def test_load_flow_gt_as_the_models_input(tiny_synthetic):
    root, _ = tiny_synthetic
    vid = sorted(osp.basename(p)[:-4] for p in glob.glob(osp.join(root, 'flow', '*.npz')))[0]
    gt = LoadFlowGT(flow_prefix=osp.join(root, 'flow'))(_results(root, vid, [20, 21, 22]))
    given = LoadFlowGT(flow_prefix=osp.join(root, 'flow'), key='input_flow')(
        _results(root, vid, [20, 21, 22]))
    assert 'gt_flow' not in given
    torch.testing.assert_close(given['input_flow'], gt['gt_flow'])
    with pytest.raises(ValueError, match="key must be 'gt_flow' or 'input_flow'"):
        LoadFlowGT(flow_prefix=root, key='flow')


@pytest.mark.slow
def test_runner_trains_and_tests_with_pipeline_flow(tiny_synthetic, tmp_path):
    # flow_source='input' end to end: ComputeFlow in the train and val pipelines,
    # packed as input_flow, handed to the backbone by FlowFastRCNN in a real Runner
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'given', config=CFG, max_epochs=1,
                             batch_size=2)
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint.save_best = None
    cfg.model.backbone.flow_source = 'input'
    cfg.model.backbone.flow_net = None
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        pipe = [t for t in loader.dataset.pipeline if t['type'] != 'LoadFlowGT']
        at = next(i for i, t in enumerate(pipe) if t['type'] == 'FormatShape')
        pipe.insert(at, dict(type='ComputeFlow', method='dis', preset='ultrafast'))
        pipe[-1] = dict(type='PackActionInputs', algorithm_keys=('input_flow',))
        loader.dataset.pipeline = pipe
    runner = Runner.from_cfg(cfg)
    seen = []

    class Spy(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append(runner.model.backbone.last_flow.abs().sum().item())

    runner.register_hook(Spy())
    runner.train()
    assert seen and all(v > 0 for v in seen)           # DIS flows reached the backbone
    metrics = runner.test()
    assert math.isfinite(metrics['mAP/overall'])
