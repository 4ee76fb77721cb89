# The synthetic benchmark read in the UCF101-24/JHMDB (ACT) layout: GT tubes from
# annotations/synthetic_gt.pkl, frame-level samples, frame-mAP + video-mAP.
# Generate the data with: python -m stadl_plugins.datasets.synthetic data/synthetic
dataset_type = 'ACTDetectionDataset'
data_root = 'data/synthetic'
ann_file = f'{data_root}/annotations/synthetic_gt.pkl'
act_video = dict(
    ann_file=ann_file,
    data_prefix=dict(img=f'{data_root}/rawframes'),
    filename_tmpl='img_{:05}.jpg',
    split=1)

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        subset='train',
        frame_stride=5,  # a keyframe every 0.5 s
        gt_proposals=True,  # jittered GT boxes as training proposals
        pipeline=train_pipeline,
        **act_video))
# every frame of the test videos (frame-mAP needs them all); GT boxes as proposals
# (oracle localisation: the synthetic benchmark has proposals only at keyframes)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        subset='test',
        frame_stride=1,
        gt_proposals=True,
        pipeline=val_pipeline,
        test_mode=True,
        **act_video))
test_dataloader = val_dataloader

val_evaluator = dict(type='VideoMAPMetric', ann_file=ann_file, split=1,
                     link_cfg=dict(min_len=5))
test_evaluator = val_evaluator
