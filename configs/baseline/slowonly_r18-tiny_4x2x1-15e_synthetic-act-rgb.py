# The quickstart model trained and evaluated the UCF101-24/JHMDB way (frame-level
# samples from the ACT pickle, frame-mAP and video-mAP) on the synthetic benchmark:
# the code path of the UCF101-24/JHMDB configs, runnable on a CPU.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/slowonly_r18_tiny.py',
    '../_base_/datasets/synthetic_act.py'
]
# 7 synthetic classes + background
model = dict(roi_head=dict(bbox_head=dict(num_classes=8, topk=(1, 3))))

max_epochs = 15
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
default_hooks = dict(checkpoint=dict(save_best='mAP/frameAP', rule='greater'))
