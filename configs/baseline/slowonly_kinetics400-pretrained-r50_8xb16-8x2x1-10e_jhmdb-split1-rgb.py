# SlowOnly-R50 (Kinetics-400 pretrained) on JHMDB-21 split 1, evaluated with
# frame-mAP@0.5 and video-mAP. Other splits: set split=2|3 in
# train_dataloader.dataset, val_dataloader.dataset and val_evaluator.
_base_ = ('mmaction::detection/slowonly/'
           'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
# ---- dataset (replaces the AVA data of the base) ----
# JHMDB-21 in the ACT/MOC layout (3 splits; change `split` in BOTH the dataset and the metric):
#   data/jhmdb/Frames/<class>/<video>/00001.png, data/jhmdb/JHMDB-GT.pkl
# Training: a keyframe every 4 frames (JHMDB clips are 15-40 frames long), jittered GT boxes as proposals.
# Testing: every frame of the test videos (frame-mAP needs them all) with
# person detections in data/jhmdb/proposals_test.pkl
# ({'<class>/<video>,<frame:05d>': (N, 5) normalised x1,y1,x2,y2,score});
# set gt_proposals=True, proposal_file=None for the oracle-localisation setting.
dataset_type = 'JHMDBDataset'
data_root = 'data/jhmdb'
ann_file = f'{data_root}/JHMDB-GT.pkl'
split = 1
common = dict(ann_file=ann_file, data_prefix=dict(img=f'{data_root}/Frames'),
              split=split)

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=8, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='RandomRescale', scale_range=(240, 288)),
    dict(type='RandomCrop', size=224),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=8, frame_interval=2, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 240)),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    _delete_=True,
    batch_size=16, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, subset='train', frame_stride=4, gt_proposals=True,
                 pipeline=train_pipeline, **common))
val_dataloader = dict(
    _delete_=True,
    batch_size=1, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, subset='test', frame_stride=1, test_mode=True,
                 proposal_file=f'{data_root}/proposals_test.pkl',
                 person_det_score_thr=0.5, pipeline=val_pipeline, **common))
test_dataloader = val_dataloader
# protocol='act': the ACT/MOC evaluator and MOC's linker, the numbers papers report
val_evaluator = dict(_delete_=True, type='VideoMAPMetric', ann_file=ann_file, split=split,
                     protocol='act')
test_evaluator = val_evaluator

custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)
model = dict(roi_head=dict(bbox_head=dict(num_classes=22)))  # 21 classes + bg

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_begin=10,
                 val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=10, eta_min=0, by_epoch=True, begin=0,
         end=10)
]
default_hooks = dict(checkpoint=dict(save_best='mAP/frameAP', rule='greater'))

# a hung rank fails the job after 900 s (configs/_base_/default_runtime.py;
# STADL_DIST_TIMEOUT=<s> overrides at launch)
env_cfg = dict(dist_cfg=dict(timeout=900))
