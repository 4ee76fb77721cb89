# RecLNet on DALY, RGB + flow with the fusion layer on frozen, separately trained
# streams (train ...daly-rgb.py and its flow twin, streams=('flow',), first).
_base_ = ['./reclnet-gru_fc7-4096_30e_daly-rgb.py']

streams = ('rgb', 'flow')
model = dict(
    in_channels=dict(rgb=4096, flow=4096),
    fusion='fusion_layer',
    freeze_streams=True,
    # set to the trained single-stream checkpoints, e.g.
    # dict(rgb='work_dirs/reclnet-gru_fc7-4096_30e_daly-rgb/epoch_30.pth',
    #      flow='work_dirs/reclnet-gru_fc7-4096_30e_daly-flow/epoch_30.pth')
    stream_checkpoints=None)
train_dataloader = dict(dataset=dict(streams=streams))
val_dataloader = dict(dataset=dict(streams=streams))
test_dataloader = val_dataloader
