# RecLNet (Chéron et al. 2018), RGB stream alone: FC normalisation -> two
# single-layer GRUs (memory M) with concatenated outputs -> C+1 softmax per frame,
# trained on windows of 20 frames of person tracks with Adam, weight decay 5e-4.
# Track features: <data_root>/track_features/<video>.npz (format in
# stadl_plugins/datasets/track_windows.py; make them for the synthetic benchmark
# with make_synthetic_track_features, or from a detector's RoI features).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/synthetic'
feature_dir = f'{data_root}/track_features'
gt_file = f'{data_root}/annotations/synthetic_gt.pkl'
num_classes = 7
streams = ('rgb', )
# Frame rate of the videos (synthetic benchmark: 10 fps). tools/reclnet/localize.py
# uses it when a feature file has no 'fps' key of its own.
fps = 10

# Tubes from the per-frame scores (tools/reclnet/localize.py, localize_tracks):
# median filter over median_seconds of each track (paper: "window size 25" frames
# on UCF101-24's 25-fps videos = 1 s; here 1 s at 10 fps = 9 frames, the nearest
# odd count, ties rounded down), runs >= theta, top-40 mean score, ST-NMS 0.2.
localization = dict(method='threshold', median_seconds=1.0, theta=0.1, top_k=40,
                    nms_thr=0.2, switch_penalty=2.0)

model = dict(
    type='RecLNet',
    num_classes=num_classes,
    in_channels=dict(rgb=32),  # paper: Fast R-CNN FC7, 4096
    fc_channels=1024,          # paper: 1024
    memory=256,                # paper: M = 256
    cell='gru',                # 'lstm' / 'fc' baselines
    dropout=0.0)

train_dataloader = dict(
    batch_size=100,  # paper: batches of 100 tracks
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='TrackWindowDataset', feature_dir=feature_dir, streams=streams,
                 window=20, stride=5, gt_file=gt_file, split='train'))
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='TrackWindowDataset', feature_dir=feature_dir, streams=streams,
                 window=20, gt_file=gt_file, split='test', test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TrackFrameAccuracy')
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# paper: Adam, weight decay 5e-4 (learning rate not given)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4))
param_scheduler = []
default_hooks = dict(checkpoint=dict(save_best='track/frame_acc', rule='greater'))
