# RecLNet at paper scale on DALY (10 daily actions, long videos), RGB stream:
# FC7 4096-d per frame along person tracks, batches of 100 windows of 20, Adam,
# weight decay 5e-4 (paper §4-5).
#
# Data (you convert / extract it; this toolbox has no DALY loader):
#   data/daly/daly_gt.pkl   ACT-schema GT: labels (10 names), gttubes[video][label]
#       = [(n, 5) frame, x1, y1, x2, y2] per frame, nframes, train_videos=[[...]],
#       test_videos=[[...]], resolution. DALY annotates boxes only on a few
#       keyframes per action instance: interpolate them over the instance's
#       temporal extent to get per-frame tubes (our choice; the paper does not say
#       how frames between keyframes are labelled).
#   data/daly/track_features/fc7/<video>.npz   (format of track_windows.py)
# Paper gaps: learning rate, epochs, window stride, the GT interpolation above.
_base_ = ['./reclnet-gru_fc7-4096_30e_ucf24-rgb.py']

data_root = 'data/daly'
feature_dir = f'{data_root}/track_features/fc7'
gt_file = f'{data_root}/daly_gt.pkl'
# DALY's YouTube videos do not share one frame rate: store each video's in its
# feature file ('fps' key; extract_track_features.py --fps, one run per rate) or
# pass localize.py --fps. No config default, so a missing rate is an error.
fps = None
model = dict(num_classes=10)
train_dataloader = dict(dataset=dict(feature_dir=feature_dir, gt_file=gt_file))
val_dataloader = dict(dataset=dict(feature_dir=feature_dir, gt_file=gt_file))
test_dataloader = val_dataloader
