# MMAction2's SlowFast-R50 AVA v2.1 recipe (24.32 mAP upstream) + PWCFlowNeck on
# both pathways: the neck returns (slow 2048 ch, fast 256 ch) with unchanged
# shapes, so the stock RoI extractor and head (2304 channels) are untouched.
# Motion is most informative on the fast pathway (32 slices); set pathways=[1] to
# leave the slow one as is.
_base_ = ('mmaction::detection/slowfast/'
          'slowfast_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)

model = dict(
    neck=dict(
        type='PWCFlowNeck',
        in_channels=[2048, 256],  # (slow, fast)
        pathways=None,            # all pathways get motion
        fusion='concat',
        num_levels=3,
        corr_channels=64,
        motion_channels=64,
        estimator_channels=(64, 32),
        max_displacement=4,
        identity_init=True))

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
