# RecLNet two-stream "fusion layer" (Chéron et al. 2018, Table 3): an FC layer on
# the concatenated 4M memories of the RGB and flow streams, trained on top of the
# separately trained, frozen streams (stream_checkpoints: the RGB and flow
# single-stream checkpoints, e.g. from reclnet-gru_tracks_30e_synthetic-rgb.py and
# its flow twin with streams=('flow',)). fusion='average' / 'gating' for the
# other two fusions.
_base_ = ['./reclnet-gru_tracks_30e_synthetic-rgb.py']

streams = ('rgb', 'flow')
model = dict(
    in_channels=dict(rgb=32, flow=32),
    fusion='fusion_layer',
    freeze_streams=True,
    stream_checkpoints=None)  # dict(rgb='work_dirs/.../best.pth', flow='...')

train_dataloader = dict(dataset=dict(streams=streams))
val_dataloader = dict(dataset=dict(streams=streams))
test_dataloader = val_dataloader
