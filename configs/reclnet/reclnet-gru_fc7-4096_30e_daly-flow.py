# RecLNet on DALY, optical-flow stream alone (flow FC7 features, feat_flow key).
_base_ = ['./reclnet-gru_fc7-4096_30e_daly-rgb.py']

streams = ('flow', )
model = dict(in_channels=dict(_delete_=True, flow=4096))
train_dataloader = dict(dataset=dict(streams=streams))
val_dataloader = dict(dataset=dict(streams=streams))
test_dataloader = val_dataloader
