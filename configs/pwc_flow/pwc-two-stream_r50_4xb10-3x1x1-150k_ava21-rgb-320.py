# The paper's setup (Zhang et al., PR 2020, Sec. 4.2) on AVA v2.1 with MMAction2's
# data settings: K=3 consecutive frames resized to 320x320; PWCNet on the pairs
# (k-1, k), (k, k+1) (input_size 320x320, weights of Sun et al. converted with
# tools/convert/pwcnet_weights.py); 1x1 fusing conv -> flow image; one shared
# backbone for the RGB keyframe and the flow image (here SlowOnly-R50 on 1-frame
# clips in place of the paper's Deeplab-VGG16/RFB, whose SSD head is replaced by
# the stock AVA RoI head); M-Concat fusion; SGD lr 1e-3, momentum 0.9, wd 5e-4,
# x0.1 at 30k/60k/100k, 150k iterations, batch 40 (4 GPUs x 10); flow subnet
# frozen, then unfrozen at 75k (the fusion study). AVA has no ground-truth flow:
# no flow loss is added (as in the released code).
# Set backbone.backbone.pretrained (ImageNet/Kinetics) and
# backbone.flow_pretrained before training; both are None so that nothing is
# downloaded when the config is built.
_base_ = ('mmaction::detection/slowonly/'
          'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='FlowFastRCNN',
    _scope_='mmdet',
    init_cfg=None,
    flow_loss_weight=1.0,
    backbone=dict(
        type='FlowTwoStreamBackbone',
        flow_net=dict(type='PWCNet', input_size=(320, 320), corr_normalize='mean'),
        flow_pretrained=None,           # e.g. 'work_dirs/pwcnet_sniklaus.pth'
        backbone=dict(
            type='mmaction.ResNet3dSlowOnly', depth=50, pretrained=None,
            pretrained2d=False, lateral=False, num_stages=4, conv1_kernel=(1, 7, 7),
            conv1_stride_t=1, pool1_stride_t=1, spatial_strides=(1, 2, 2, 1),
            out_indices=(1, 2, 3)),
        stage_channels=(512, 1024, 2048),   # strides 8, 16, 16
        fusion='concat',
        out_scale=-1,
        num_frames=3,
        frame_stride=1,
        pairs='adjacent',
        freeze_flow=True),
    roi_head=dict(
        type='AVARoIHead',
        bbox_roi_extractor=dict(type='SingleRoIExtractor3D', roi_layer_type='RoIAlign',
                                output_size=8, with_temporal_pool=True),
        bbox_head=dict(type='BBoxHeadAVA', background_class=True, in_channels=2048,
                       num_classes=81,
                       multilabel=True, dropout_ratio=0.5)),
    data_preprocessor=dict(type='mmaction.ActionDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           format_shape='NCTHW'),
    train_cfg=dict(rcnn=dict(
        assigner=dict(type='MaxIoUAssignerAVA', pos_iou_thr=0.9, neg_iou_thr=0.9,
                      min_pos_iou=0.9),
        sampler=dict(type='RandomSampler', num=32, pos_fraction=1, neg_pos_ub=-1,
                     add_gt_as_proposals=True),
        pos_weight=1.0)),
    test_cfg=dict(rcnn=None))

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=3, frame_interval=1),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=3, frame_interval=1, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(batch_size=10, dataset=dict(type='CheckedAVADataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='CheckedAVADataset', pipeline=val_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=150000,
                 val_interval=10000)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[30000, 60000, 100000], gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000,
                                     max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
custom_hooks = [dict(type='FlowUnfreezeHook', unfreeze_iter=75000)]
auto_scale_lr = dict(enable=False, base_batch_size=40)

# a hung rank fails the job after 900 s (configs/_base_/default_runtime.py;
# STADL_DIST_TIMEOUT=<s> overrides at launch)
env_cfg = dict(dist_cfg=dict(timeout=900))

# checks on by default: CheckedAVADataset / AVAFrameAPMetric validate the inputs
# with file:line errors (docs/troubleshooting.md)
val_evaluator = dict(type='AVAFrameAPMetric')
test_evaluator = val_evaluator
