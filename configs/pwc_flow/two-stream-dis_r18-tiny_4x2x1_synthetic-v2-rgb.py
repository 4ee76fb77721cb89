# Two-stream detector of Zhang et al. (FlowTwoStreamBackbone + FlowFastRCNN) on
# benchmark v2, fed OpenCV DIS flow computed in the pipeline (ComputeFlow) instead
# of its PWC-Net subnet: the flow block of the v2 suite (benchmarks/v2_flow.py)
# trains this config with the flow source of each row swapped in
# (zero / frame_difference / farneback / dis / tvl1) and the stock v2 row's
# schedule. Everything else (data, RoI head, optimiser, pretrained backbone) is
# the stock v2 config's.
#
# The shared inner backbone is the v2 pretraining checkpoint's backbone.*
# (backbone_pretrained, loaded strictly; the stock config's detector-level
# init_cfg cannot reach the inner backbone's backbone.backbone.* keys).
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1_synthetic-v2-rgb.py']

pretrained = 'work_dirs/synthetic_v2/pretrain/backbone_pretrained.pth'
flow_method = 'dis'  # ComputeFlow: farneback | dis | tvl1
num_frames, frame_stride = 3, 1  # the keyframe and its neighbours, 0.2 s apart

model = dict(
    type='FlowFastRCNN',
    init_cfg=None,
    backbone=dict(
        _delete_=True,
        type='FlowTwoStreamBackbone',
        flow_source='input',
        flow_net=None,
        backbone=dict(
            type='mmaction.ResNet3dSlowOnly', depth=18, base_channels=8,
            pretrained=None, pretrained2d=False, lateral=False, num_stages=4,
            conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
            inflate=(0, 0, 1, 1), spatial_strides=(1, 2, 1, 1), norm_eval=False,
            out_indices=(3, )),
        backbone_pretrained=pretrained,
        backbone_prefix='backbone.',
        stage_channels=(64, ),
        fusion='concat',
        num_frames=num_frames,
        frame_stride=frame_stride))

_flow = dict(type='ComputeFlow', method=flow_method, num_frames=num_frames,
             frame_stride=frame_stride)
_pack = dict(type='PackActionInputs', algorithm_keys=('input_flow', ))
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    _flow,  # after every geometric transform: the flow of the pixels the model sees
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    _pack
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2, test_mode=True),
    dict(type='RawFrameDecode'),
    _flow,
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    _pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
