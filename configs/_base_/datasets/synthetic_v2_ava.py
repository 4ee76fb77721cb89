# Synthetic benchmark v2 read by CheckedAVADataset (stock AVADataset + input checks).
# Generate it with: python -m stadl_plugins.datasets.synthetic data/synthetic_v2 --version 2
# Videos are 30-60 s at 10 fps; keyframes at 902 .. 900+seconds-3 (2 s margin at
# both ends, so no clip of <= 4 s leaves the video although timestamp_end is the
# longest video's).
dataset_type = 'CheckedAVADataset'  # AVADataset + input checks (file:line errors)
data_root = 'data/synthetic_v2'
anno_root = f'{data_root}/annotations'
label_file = f'{anno_root}/label_map.pbtxt'

synthetic_video = dict(
    fps=10, timestamp_start=900, timestamp_end=960, num_classes=81,
    person_det_score_thr=0.9, label_file=label_file,
    data_prefix=dict(img=f'{data_root}/rawframes'))

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
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, ann_file=f'{anno_root}/train.csv',
        exclude_file=f'{anno_root}/train_excluded_timestamps.csv',
        proposal_file=f'{anno_root}/proposals_train.pkl', pipeline=train_pipeline,
        **synthetic_video))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, ann_file=f'{anno_root}/val.csv',
        exclude_file=f'{anno_root}/val_excluded_timestamps.csv',
        proposal_file=f'{anno_root}/proposals_val.pkl', pipeline=val_pipeline,
        test_mode=True, **synthetic_video))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='AVAFrameAPMetric', ann_file=f'{anno_root}/val.csv', label_file=label_file,
    exclude_file=f'{anno_root}/val_excluded_timestamps.csv', num_classes=81)
test_evaluator = val_evaluator
