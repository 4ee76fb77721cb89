# The quickstart baseline + an HST-LSTM neck (Ramaswamy et al., CVPRW 2020): the
# clip covers ~3 s (9 frames, one every 3 frames at 10 fps = 0.3 s, the paper's
# "I3D features every 1/3 s"); layer 1 runs a peephole ConvLSTM over the 3
# micro-steps of each second, layer 2 pools them per second with attention.
# RoI pooling reads the concatenation keyframe appearance + backbone + HST-LSTM
# (paper Fig. 5) of the keyframe's second (the clip centre, output_step='keyframe').
# Same data and schedule as the quickstart.
# The clip comes from the stock 9x3x1 baseline config, which differs only by the neck.
_base_ = ['../baseline/slowonly_r18-tiny_9x3x1-15e_synthetic-rgb.py']

hstlstm = dict(
    type='HSTLSTMNeck',
    in_channels=64,  # SlowOnly-R18 at base width 8
    hidden_channels=16,  # paper: 64 (kept small for CPU)
    micro_steps=3,
    num_layers=2,
    output_step='keyframe',  # the step of the keyframe's second (clip centre)
    output_features=('appearance', 'backbone', 'hstlstm'),
    output_mode='concat')  # the paper's Fig. 5 concatenation (default 'project':
    # the backbone's 64 channels, stock bbox_head unchanged)
model = dict(
    neck=hstlstm,
    roi_head=dict(bbox_head=dict(in_channels=64 + 64 + 16)))
