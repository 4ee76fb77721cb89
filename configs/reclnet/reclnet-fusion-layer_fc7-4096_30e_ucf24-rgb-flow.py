# RecLNet on UCF101-24, the paper's best fusion (Table 3, "fusion layer"): an FC
# layer on the concatenated 4M = 1024 memories of the RGB and flow streams, trained
# on top of the separately trained, frozen streams. Train
# reclnet-gru_fc7-4096_30e_ucf24-rgb.py and ...-flow.py first and point
# stream_checkpoints at their checkpoints (--cfg-options
# model.stream_checkpoints.rgb=... model.stream_checkpoints.flow=...).
_base_ = ['./reclnet-gru_fc7-4096_30e_ucf24-rgb.py']

streams = ('rgb', 'flow')
model = dict(
    in_channels=dict(rgb=4096, flow=4096),
    fusion='fusion_layer',
    freeze_streams=True,
    # set to the trained single-stream checkpoints, e.g.
    # dict(rgb='work_dirs/reclnet-gru_fc7-4096_30e_ucf24-rgb/epoch_30.pth',
    #      flow='work_dirs/reclnet-gru_fc7-4096_30e_ucf24-flow/epoch_30.pth')
    stream_checkpoints=None)
train_dataloader = dict(dataset=dict(streams=streams))
val_dataloader = dict(dataset=dict(streams=streams))
test_dataloader = val_dataloader
