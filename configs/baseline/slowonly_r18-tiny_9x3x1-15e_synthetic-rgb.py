# The quickstart's stock detector (SlowOnly-R18-tiny + stock AVA RoI head) reading
# 9 frames, one every 3 frames (~3 s at 10 fps): the stock baseline with the same
# clip as the HST-LSTM config, so the two differ only by the neck.
_base_ = ['./slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

clip_len, frame_interval = 9, 3  # 3 seconds x 3 micro-steps
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
