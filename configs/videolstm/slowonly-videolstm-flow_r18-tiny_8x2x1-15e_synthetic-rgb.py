# The VideoLSTM neck with the paper's motion input, optical flow (Li et al. 2016,
# Sec. 3.2: M_t is a feature map of the flow): the quickstart backbone wrapped in
# ClipFlowBackbone, which appends the PWC-Net flow of the clip's consecutive frames
# (one flow per feature step); the neck pools it to the 15x20 feature map and a
# zero-initialised conv turns it into M_t for the bottom (motion) ConvLSTM that
# steers the attention. Same data, schedule and neck as
# slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py otherwise.
# The PWC-Net here is the tiny one of the two-stream config, randomly initialised
# and frozen: nothing is downloaded and the synthetic data train no flow. For a real
# flow set model.backbone.flow_pretrained to converted PWC-Net weights
# (tools/convert/pwcnet_weights.py) and drop the flow_net override (the full
# PWC-Net).
_base_ = ['./slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py']

model = dict(
    # merged into the base's backbone dict: its keys go to the inner backbone
    backbone=dict(
        type='ClipFlowBackbone',
        inner_type='mmaction.ResNet3dSlowOnly',
        flow_net=dict(type='PWCNet', num_levels=4, output_level=2, channel_mult=0.25,
                      max_displacement=2, size_mode='pad'),
        flow_pretrained=None,
        freeze_flow=True),
    neck=dict(
        motion_source='flow',
        motion_index=None,     # the last backbone output: ClipFlowBackbone's flow
        motion_channels=16,    # M_t channels (flow encoder output)
        flow_kernel_size=3))
