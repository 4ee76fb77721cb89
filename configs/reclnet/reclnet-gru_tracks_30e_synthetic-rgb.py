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
