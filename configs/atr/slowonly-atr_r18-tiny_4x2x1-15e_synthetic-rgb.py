# The quickstart baseline + an ATR shared head (actor-target relation by non-local
# attention from each RoI to the feature cells outside its box). Same data, same
# schedule: the comparison is in benchmarks/ (`python benchmarks/run.py --only
# atr_synthetic`).
_base_ = ['../baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py']

model = dict(
    roi_head=dict(
        shared_head=dict(
            type='ATRHead',
            in_channels=64,
            latent_channels=32,
            featmap_stride=8,  # = bbox_roi_extractor.featmap_stride
            num_layers=1,
            context_radius=1.0,  # attend to the surroundings within one box size
            query='cell',
            norm='LN')))
