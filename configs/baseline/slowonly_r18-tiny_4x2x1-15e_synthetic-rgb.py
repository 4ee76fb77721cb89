# Quickstart / stock baseline: only stock MMAction2 modules (SlowOnly backbone,
# AVARoIHead, SingleRoIExtractor3D, BBoxHeadAVA in mmdet's FastRCNN) trained from
# scratch on the synthetic benchmark and evaluated with AVAMetric (frame-mAP@0.5).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/slowonly_r18_tiny.py',
    '../_base_/datasets/synthetic_ava.py'
]

max_epochs = 15
# One validation, after the last epoch (tools/train.py). tools/quickstart.py skips it
# and saves only the final checkpoint: its runner.test() right after evaluates the
# same val split with the same weights (docs/synthetic_benchmark.md, "Where the
# quickstart's time goes").
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=max_epochs,
    val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs)
]
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
