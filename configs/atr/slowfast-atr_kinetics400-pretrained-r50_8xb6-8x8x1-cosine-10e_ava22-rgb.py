# MMAction2's SlowFast-R50 AVA v2.2 recipe (25.90 mAP upstream) + ATR.
_base_ = ('mmaction::detection/slowfast/'
          'slowfast_kinetics400-pretrained-r50_8xb6-8x8x1-cosine-10e_ava22-rgb.py')
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        shared_head=dict(
            type='ATRHead',
            in_channels=2304,
            latent_channels=512,
            featmap_stride=16,
            num_layers=1,
            context_radius=1.0,  # attend to the surroundings within one box size
            query='cell',
            norm='LN')))

# a hung rank fails the job after 900 s (configs/_base_/default_runtime.py;
# STADL_DIST_TIMEOUT=<s> overrides at launch)
env_cfg = dict(dist_cfg=dict(timeout=900))

# checks on by default: CheckedAVADataset / AVAFrameAPMetric validate the inputs
# with file:line errors (docs/troubleshooting.md)
train_dataloader = dict(dataset=dict(type='CheckedAVADataset'))
val_dataloader = dict(dataset=dict(type='CheckedAVADataset'))
val_evaluator = dict(type='AVAFrameAPMetric')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
