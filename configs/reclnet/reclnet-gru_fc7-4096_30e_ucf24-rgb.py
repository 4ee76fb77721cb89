# RecLNet at paper scale on UCF101-24 (Chéron et al. 2018, §4-5), RGB stream:
# Fast R-CNN FC7 (4096-d) per frame along person tracks -> FC 1024 -> two GRUs
# (M = 256, outputs concatenated) -> 24+1-way softmax per frame; batches of 100
# track windows of 20 frames (BPTT over 20 steps), Adam, weight decay 5e-4.
#
# Data (you extract it; nothing here downloads):
#   data/ucf24/UCF101v2-GT.pkl                       ACT-schema GT (split 1 lists)
#   data/ucf24/track_features/fc7/<class>/<video>.npz  one file per video, the format
#       of stadl_plugins/datasets/track_windows.py (feat_rgb (N, T, 4096), boxes,
#       frames, lengths, labels from frame_labels_from_gt with IoU > 0.3).
# Make the files with tools/reclnet/extract_track_features.py from a detector of
# this toolbox (see reclnet-gru_slowonly-r50-roi-2048_30e_ucf24-rgb.py for the
# feature size of our SlowOnly-R50), or convert your own FC7 features to it.
# Paper gaps: learning rate (1e-3), epochs (30), window stride (20: non-overlapping)
# are not given in the paper.
_base_ = ['./reclnet-gru_tracks_30e_synthetic-rgb.py']

data_root = 'data/ucf24'
feature_dir = f'{data_root}/track_features/fc7'
gt_file = f'{data_root}/UCF101v2-GT.pkl'
num_classes = 24
streams = ('rgb', )
fps = 25  # UCF101 videos: 25 fps, so the 1-s median window is the paper's 25 frames

model = dict(
    num_classes=num_classes,
    in_channels=dict(rgb=4096),  # Fast R-CNN FC7
    fc_channels=1024,
    memory=256,
    cell='gru',
    dropout=0.0)

train_dataloader = dict(
    batch_size=100,  # 100 tracks of length 20
    dataset=dict(feature_dir=feature_dir, gt_file=gt_file, streams=streams, window=20,
                 stride=20))
val_dataloader = dict(
    batch_size=100,
    dataset=dict(feature_dir=feature_dir, gt_file=gt_file, streams=streams, window=20))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=30, val_begin=5, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4))
