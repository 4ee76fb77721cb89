# Stock row of benchmark v2: only stock MMAction2 modules (the quickstart's tiny
# SlowOnly-R18 in mmdet's FastRCNN with AVARoIHead / BBoxHeadAVA), the backbone
# initialised from the v2 pretraining stage
# (python -m stadl_plugins.benchmark.pretrain writes the checkpoint below).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/slowonly_r18_tiny.py',
    '../_base_/datasets/synthetic_v2_ava.py'
]
pretrained = 'work_dirs/synthetic_v2/pretrain/backbone_pretrained.pth'
# the pretraining checkpoint is a Recognizer3D's: its backbone.* keys load into
# the detector's backbone, cls_head.* is ignored (strict=False)
model = dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained))

max_epochs = 6
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
