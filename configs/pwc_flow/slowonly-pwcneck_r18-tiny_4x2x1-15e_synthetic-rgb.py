# The quickstart baseline + PWCFlowNeck: motion between adjacent time slices of
# the SlowOnly features, estimated PWC-Net style (warp + cost volume, coarse to
# fine over the feature map and two 2x2-pooled levels) and fused with them
# (M-Concat: concatenate + 1x1 conv). Same data, same schedule as the quickstart.
# Other fusions: fusion='sum' | 'average' | 'stfp'.
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

model = dict(
    neck=dict(
        type='PWCFlowNeck',
        in_channels=64,          # SlowOnly-R18 width 8: 8 * 8 channels at stride 8
        fusion='concat',
        num_levels=3,            # the 16x20 map (128x160 input) + 8x10 + 4x5 pooled
        corr_channels=32,
        motion_channels=32,
        estimator_channels=(32, 16),
        max_displacement=3))
