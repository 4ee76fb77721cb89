# RecLNet on the synthetic benchmark on REAL detector features: the 64-d RoI
# feature (fc_cls input) of the stock quickstart detector
# (configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py) along tracks
# linked from the benchmark's keyframe proposals, extracted with
#   python tools/reclnet/extract_track_features.py \
#       configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py \
#       work_dirs/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb/epoch_15.pth \
#       data/synthetic/track_features_stock --gt data/synthetic/annotations/synthetic_gt.pkl
_base_ = ['./reclnet-gru_tracks_30e_synthetic-rgb.py']

feature_dir = 'data/synthetic/track_features_stock'
model = dict(in_channels=dict(rgb=64))
train_dataloader = dict(dataset=dict(feature_dir=feature_dir))
val_dataloader = dict(dataset=dict(feature_dir=feature_dir))
test_dataloader = val_dataloader
