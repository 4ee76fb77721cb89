# The quickstart baseline + a VideoLSTM neck (Li et al. 2016): motion-based
# attention (bottom ConvLSTM on feature differences M_t = X_t - X_{t-1} that also
# receives the top layer's H_{t-1}) steering a ConvALSTM over the 8 steps of the
# clip; RoI pooling reads backbone + last hidden state. Same data and schedule as
# the quickstart. attention='appearance' gives the Convolutional ALSTM, 'none' a
# plain ConvLSTM (the paper's Table 1-2 ablation).
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

clip_len, frame_interval = 8, 2
model = dict(
    neck=dict(
        type='ConvALSTMNeck',
        in_channels=64,
        hidden_channels=16,  # paper: 512
        attention='motion',
        motion_source='feature_difference',
        output_step='last',
        output_features=('backbone', 'hidden'),
        output_mode='concat',  # bbox_head reads the concatenation (default
        # 'project': the backbone's channels, stock bbox_head unchanged)
        motion_hidden_channels=16,
        init_state='mean_input',
        # X~ = (H*W) * A o X: the paper's A o X (eq. 9) scales the LSTM input by
        # ~1/(H*W) (1/300 on this 15x20 map); our fix, see docs/recurrent.md
        rescale_attention=True),
    roi_head=dict(bbox_head=dict(in_channels=64 + 16)))

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval,
         test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
