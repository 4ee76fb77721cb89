# VideoLSTM (Li et al. 2016) as a recognition head in a stock MMAction2
# Recognizer3D, trained on video labels alone: the synthetic benchmark's videos
# labelled with their most frequent action (SyntheticRecognitionDataset),
# evaluated with the stock AccMetric. Backbone: the tiny SlowOnly-R18 of the
# quickstart (stride 8, time kept) -> motion-attended ConvALSTM -> per-frame
# classifier, per-frame probabilities averaged over time and clips.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/synthetic'
anno_root = f'{data_root}/annotations'
label_file = f'{anno_root}/label_map.pbtxt'
num_classes = 7

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowOnly',
        depth=18,
        base_channels=8,
        pretrained=None,
        pretrained2d=False,
        lateral=False,
        num_stages=4,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        spatial_strides=(1, 2, 1, 1),
        norm_eval=False),
    cls_head=dict(
        type='VideoLSTMHead',
        num_classes=num_classes,
        in_channels=64,
        hidden_channels=16,  # paper: 512
        attention='motion',  # 'none' = ConvLSTM, 'appearance' = ConvALSTM
        motion_source='feature_difference',
        fc_channels=64,  # paper: 1024
        dropout_ratio=0.7,
        # rescale_attention: X~ = (H*W) * A o X (the paper's A o X, eq. 9, scales the
        # LSTM input by ~1/(H*W)); our fix, see docs/recurrent.md
        core_cfg=dict(motion_hidden_channels=16, init_state='mean_input',
                      rescale_attention=True),
        topk=(1,),
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

train_pipeline = [
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    # the paper tests on equally spaced segments and averages them (25 there)
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=3,
         test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
dataset = dict(type='SyntheticRecognitionDataset', label_file=label_file,
               data_prefix=dict(img=f'{data_root}/rawframes'))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file=f'{anno_root}/train.csv', pipeline=train_pipeline,
                 **dataset))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file=f'{anno_root}/val.csv', pipeline=val_pipeline,
                 test_mode=True, **dataset))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy',),
                     metric_options=dict(top_k_accuracy=dict(topk=(1,))))
test_evaluator = val_evaluator

max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs)
]
# the paper: RMSProp, lr 1e-3, decay 0.9
optim_wrapper = dict(optimizer=dict(type='RMSprop', lr=1e-3, alpha=0.9),
                     clip_grad=dict(max_norm=40, norm_type=2))
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
