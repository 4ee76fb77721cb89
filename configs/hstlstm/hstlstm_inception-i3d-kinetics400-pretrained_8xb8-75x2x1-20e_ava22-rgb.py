# HST-LSTM (Ramaswamy et al., CVPRW 2020) on AVA v2.2 with an Inception-v1 I3D
# backbone tapped at Mixed_4f, stock MMAction2 AVA data settings otherwise.
# Clip: 75 frames, one every 2 frames at 30 fps = 5 s centred on the keyframe (the
# paper: 5 s, one keyframe per second); Mixed_4f has ceil(75/4) = 19 steps,
# resampled to 5 s x 3 micro-steps (I3D features every 1/3 s).
# RoI pooling over keyframe appearance + I3D + HST-LSTM features (paper Fig. 5).
# Kinetics I3D weights: convert a public PyTorch checkpoint first
#   python tools/convert/i3d_weights.py rgb_imagenet.pt data/i3d_rgb_mixed4f.pth \
#       --up-to Mixed_4f
# and set model.backbone.pretrained to the output. Needs data/ava (MMAction2 layout).
_base_ = ('mmaction::detection/slowonly/'
          'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)

i3d_channels, hidden = 832, 64
model = dict(
    init_cfg=None,  # the SlowOnly checkpoint of the base does not apply
    backbone=dict(
        _delete_=True,
        type='InceptionI3D',
        out_endpoints=('Mixed_4f',),
        pretrained=None,  # e.g. 'data/i3d_rgb_mixed4f.pth' (see above)
        frozen_stages=-1,
        norm_eval=False),
    neck=dict(
        type='HSTLSTMNeck',
        in_channels=i3d_channels,
        hidden_channels=hidden,  # paper: 64 filters per LSTM layer and context conv
        micro_steps=3,
        num_layers=2,
        input_steps=15,
        output_step='keyframe',  # the step of the keyframe's second (clip centre)
        output_features=('appearance', 'backbone', 'hstlstm'),
        output_mode='concat'),  # paper Fig. 5: bbox_head reads the concatenation
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_stride=16),
        bbox_head=dict(in_channels=2 * i3d_channels + hidden)),
    # I3D (Kinetics, DeepMind) expects RGB in [-1, 1]
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]))

anno_root = 'data/ava/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.2.csv'
ann_file_val = f'{anno_root}/ava_val_v2.2.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv'
label_file = f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt'

clip_len, frame_interval = 75, 2
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RawFrameDecode', io_backend='disk'),
    dict(type='RandomRescale', scale_range=(256, 320)),
    dict(type='RandomCrop', size=256),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval,
         test_mode=True),
    dict(type='RawFrameDecode', io_backend='disk'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(type='CheckedAVADataset', ann_file=ann_file_train, exclude_file=exclude_file_train,
                 label_file=label_file, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CheckedAVADataset', ann_file=ann_file_val, exclude_file=exclude_file_val,
                 label_file=label_file, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='AVAFrameAPMetric', ann_file=ann_file_val, exclude_file=exclude_file_val,
                     label_file=label_file)
test_evaluator = val_evaluator

# the paper: SGD, initial lr 1e-4 (AVA: 8k iterations); here the base schedule
# with the paper's base learning rate for 8 GPUs x 8 clips
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9,
                                    weight_decay=1e-5))
auto_scale_lr = dict(enable=False, base_batch_size=64)

# a hung rank fails the job after 900 s (configs/_base_/default_runtime.py;
# STADL_DIST_TIMEOUT=<s> overrides at launch)
env_cfg = dict(dist_cfg=dict(timeout=900))
