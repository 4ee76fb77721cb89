"""One-seed probe of the flow block (issue 20): the v2 two-stream detector
(FlowTwoStreamBackbone, shared pretrained inner backbone, M-Concat) fed zero flow
or OpenCV flow computed in the pipeline (ComputeFlow), trained like the stock v2
row (scale 0.25: 500 iterations, batch 8, training seed 0) on data seed 0, against
that stock row's detections. Not a block: one training seed.

    python benchmarks/probes/v2_two_stream_flow.py SOURCE [STATE_DIR] [OUT_DIR]

SOURCE: zero | farneback | dis | tvl1; STATE_DIR: the suite's ``--out``/v2 folder
(default /work/bench_v2/v2/v2); OUT_DIR default STATE_DIR/../flowprobe.
"""
import json
import os
import os.path as osp
import pickle
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
import numpy as np
from mmaction.registry import DATASETS
from mmengine.runner import Runner
from suite_v2 import _meta, plan, predict, read_gt, stock_config

import stadl_plugins  # noqa
from stadl_plugins.datasets.synthetic import V2_CLASSES
from stadl_plugins.evaluation.bootstrap import paired_bootstrap, point_aps, rank_run

STATE = sys.argv[2] if len(sys.argv) > 2 else '/work/bench_v2/v2/v2'
W = STATE + '/work'
OUT = sys.argv[3] if len(sys.argv) > 3 else osp.join(osp.dirname(STATE), 'flowprobe')
root = W + '/data/seed0'
state = json.load(open(STATE + '/state.json'))
ckpt = state['pretrain[0]']['result']['checkpoint']
p = plan(False, 0.25)
src = sys.argv[1]
out = osp.join(OUT, src)
cfg = stock_config(root, _meta(root), ckpt, out, p, 0)
bb = cfg.model.backbone
# the pretraining checkpoint's backbone.* keys, unprefixed: ResNet3d's own
# init_weights loads ``pretrained`` with no key remapping (and ignores init_cfg)
import torch

from stadl_plugins.safe_load import load_checkpoint_file

os.makedirs(OUT, exist_ok=True)
bb_ckpt = osp.join(OUT, 'backbone_only.pth')
if not osp.isfile(bb_ckpt):
    sd = load_checkpoint_file(ckpt, map_location='cpu')
    sd = sd.get('state_dict', sd)
    torch.save({'state_dict': {k[len('backbone.'):]: v for k, v in sd.items()
                               if k.startswith('backbone.')}}, bb_ckpt)
inner = dict(bb, out_indices=(3,), pretrained=bb_ckpt)
cfg.model.type = 'FlowFastRCNN'
cfg.model.init_cfg = None
cfg.model.backbone = dict(type='FlowTwoStreamBackbone', flow_net=None, backbone=inner,
                          stage_channels=(64,), fusion='concat', num_frames=3,
                          frame_stride=1, flow_source='input' if src != 'zero' else 'zero')
for dl in ('train_dataloader', 'test_dataloader'):
    pipe = list(cfg[dl].dataset.pipeline)
    if src != 'zero':
        at = next(i for i, t in enumerate(pipe) if t['type'] == 'FormatShape')
        pipe.insert(at, dict(type='ComputeFlow', method=src))
        pipe[-1] = dict(type='PackActionInputs', algorithm_keys=('input_flow',))
    cfg[dl].dataset.pipeline = pipe
t0 = time.time()
runner = Runner.from_cfg(cfg)
runner.train()
ids = [c for c, _, _ in V2_CLASSES]
names = {c: n for c, n, _ in V2_CLASSES}
ds = DATASETS.build(cfg.test_dataloader.dataset)
dets = predict(runner.model, ds, ids, 'cpu')
pickle.dump(dets, open(out + '/val_dets.pkl', 'wb'))
gt, excl = read_gt(root + '/annotations')
run = rank_run(gt, dets, ids, excluded=excl)
stock = rank_run(gt, pickle.load(open(W + '/stock_d0_s0/val_dets.pkl', 'rb')), ids, excluded=excl)
res = paired_bootstrap([run], [stock], names, n_boot=1000, seed=0)
aps = point_aps(run, names)
print(json.dumps(dict(source=src, seconds=round(time.time() - t0), mAP=float(np.nanmean(list(aps.values()))),
                      class_ap=aps, vs_stock=res['overall']), indent=1))
json.dump(dict(source=src, seconds=round(time.time() - t0), class_ap=aps, vs_stock=res['overall']),
          open(out + '/result.json', 'w'), indent=1)
