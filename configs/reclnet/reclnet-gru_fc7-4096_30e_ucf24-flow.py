# RecLNet on UCF101-24, optical-flow stream alone (paper: Fast R-CNN on flow
# images, FC7 4096-d, trained separately from the RGB stream). Features:
# data/ucf24/track_features/fc7/<class>/<video>.npz with a feat_flow key (the
# extraction tool writes it from a model with a flow stream; see
# docs/reclnet.md), or your own flow FC7 features in that format.
_base_ = ['./reclnet-gru_fc7-4096_30e_ucf24-rgb.py']

streams = ('flow', )
model = dict(in_channels=dict(_delete_=True, flow=4096))
train_dataloader = dict(dataset=dict(streams=streams))
val_dataloader = dict(dataset=dict(streams=streams))
test_dataloader = val_dataloader
