# The integrated model of Zhang et al. (PR 2020) at toy size on the synthetic
# benchmark: a tiny PWCNet on the pairs (k-1, k), (k, k+1) of K=3 frames (2 apart)
# -> 1x1 fusing conv -> 3-channel flow image; the SlowOnly-R18 (width 8) backbone is
# SHARED by the RGB keyframe and the flow image; M-Concat fusion of each stage's
# RGB and flow features; stock AVA RoI head. The synthetic data carry ground-truth
# flow, so the PWC-Net multi-level EPE loss is added (FlowFastRCNN, LoadFlowGT).
# No pretrained PWC-Net here: the flow subnet is frozen for the first 100
# iterations (the paper freezes it, pretrained, for half of training) and then
# trained jointly with its EPE loss.
# Flow loss as in the paper (Eq. 1 = PWC-Net's loss): per-pixel EPE summed over the
# pixels of each level, levels weighted 0.32/0.08/0.02/0.01/0.005 (levels 6..2; this
# 4-level net uses 0.02/0.01/0.005 for levels 4..2), against the ground truth divided
# by 20; added to the detection losses with weight 1 (Eq. 8). 'mean' over pixels
# (an explicit option only) divides each level's term by its pixel count: in the
# 5-epoch ablation runs of benchmarks/results/ablation_runs/e5/two_stream_s* the
# flow loss was then 0.0012-0.0017 against a ~0.03 detection loss.
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

model = dict(
    _delete_=True,
    type='FlowFastRCNN',
    _scope_='mmdet',
    init_cfg=None,
    flow_loss_weight=1.0,           # paper Eq. 8: L = L_conf + L_reg + L(Theta)
    backbone=dict(
        type='FlowTwoStreamBackbone',
        flow_net=dict(type='PWCNet', num_levels=4, output_level=2, channel_mult=0.25,
                      max_displacement=2, size_mode='pad'),
        backbone=dict(
            type='mmaction.ResNet3dSlowOnly', depth=18, base_channels=8, pretrained=None,
            pretrained2d=False, lateral=False, num_stages=4, conv1_kernel=(1, 7, 7),
            conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
            spatial_strides=(1, 2, 1, 1), out_indices=(1, 2, 3), norm_eval=False),
        stage_channels=(16, 32, 64),   # all at stride 8 in this tiny net
        fusion='concat',               # or 'sum' | 'average' | 'stfp'
        out_scale=-1,
        num_frames=3,
        frame_stride=1,
        pairs='adjacent',
        freeze_flow=True,
        flow_loss_reduction='sum'),    # paper / PWC-Net: sum over pixels
    roi_head=dict(
        type='AVARoIHead',
        bbox_roi_extractor=dict(type='SingleRoIExtractor3D', roi_layer_type='RoIAlign',
                                featmap_stride=8, output_size=8, with_temporal_pool=True),
        bbox_head=dict(type='BBoxHeadAVA', background_class=True, in_channels=64,
                       num_classes=81, multilabel=True, dropout_ratio=0.2)),
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

custom_hooks = [dict(type='FlowUnfreezeHook', unfreeze_iter=100)]

data_root = 'data/synthetic'
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=3, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='LoadFlowGT', flow_prefix=f'{data_root}/flow', num_frames=3, frame_stride=1,
         pairs='adjacent'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', algorithm_keys=('gt_flow', ))
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=3, frame_interval=2, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
