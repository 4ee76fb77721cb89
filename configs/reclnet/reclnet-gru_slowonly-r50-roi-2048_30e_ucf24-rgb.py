# RecLNet on UCF101-24 on the RoI features of this toolbox's own detector instead of
# Fast R-CNN FC7: the SlowOnly-R50 of
# configs/baseline/slowonly_kinetics400-pretrained-r50_8xb16-8x2x1-10e_ucf24-rgb.py,
# whose bbox head classifies a 2048-d pooled RoI feature (the fc_cls input that
# tools/reclnet/extract_track_features.py writes as feat_rgb). Extract with e.g.
#   python tools/reclnet/extract_track_features.py \
#       configs/baseline/slowonly_kinetics400-pretrained-r50_8xb16-8x2x1-10e_ucf24-rgb.py \
#       work_dirs/<that run>/epoch_10.pth data/ucf24/track_features/slowonly_r50 \
#       --proposals data/ucf24/proposals_train.pkl data/ucf24/proposals_test.pkl \
#       --gt data/ucf24/UCF101v2-GT.pkl --every 1 --float16 --device cuda
# (every 4 frames, as the paper's I3D variant: --every 4).
_base_ = ['./reclnet-gru_fc7-4096_30e_ucf24-rgb.py']

feature_dir = 'data/ucf24/track_features/slowonly_r50'
model = dict(in_channels=dict(rgb=2048))
train_dataloader = dict(dataset=dict(feature_dir=feature_dir))
val_dataloader = dict(dataset=dict(feature_dir=feature_dir))
test_dataloader = val_dataloader
