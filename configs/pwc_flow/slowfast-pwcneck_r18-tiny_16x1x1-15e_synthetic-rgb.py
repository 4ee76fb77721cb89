# A tiny SlowFast-R18 (slow: 4 of 16 frames, width 8; fast: 16 frames, width 2)
# in the stock FastRCNN with PWCFlowNeck on both pathways: the neck returns the
# (slow, fast) tuple with unchanged shapes, and the stock SingleRoIExtractor3D
# concatenates them (64 + 16 channels).
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmaction.ResNet3dSlowFast',
        pretrained=None,
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=4,
        slow_pathway=dict(
            type='resnet3d', depth=18, base_channels=8, pretrained=None, lateral=True,
            conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
            inflate=(0, 0, 1, 1), spatial_strides=(1, 2, 1, 1), fusion_kernel=7),
        fast_pathway=dict(
            type='resnet3d', depth=18, base_channels=2, pretrained=None, lateral=False,
            conv1_kernel=(5, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
            spatial_strides=(1, 2, 1, 1))),
    neck=dict(
        type='PWCFlowNeck',
        in_channels=[64, 16],    # (slow, fast)
        fusion='concat',
        num_levels=3,
        corr_channels=16,
        motion_channels=16,
        estimator_channels=(16, 16),
        max_displacement=3),
    roi_head=dict(bbox_head=dict(in_channels=64 + 16)))

# 16 frames at interval 1 (the fast pathway's rate; the slow one takes every 4th)
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=16, frame_interval=1),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=16, frame_interval=1, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
