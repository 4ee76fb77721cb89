# MMAction2's SlowOnly-R50 AVA v2.1 recipe (stock data settings, 20.72 mAP upstream)
# with PWCFlowNeck: PWC-style motion between the 4 time slices of the stride-16
# feature map (levels: 16x16, 8x8, 4x4 pooled) fused by M-Concat. The fusion starts
# as the identity, so the Kinetics-pretrained backbone's features reach the head
# unchanged at step 0. Needs the AVA data under data/ava (MMAction2 layout).
_base_ = ('mmaction::detection/slowonly/'
          'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)

model = dict(
    neck=dict(
        type='PWCFlowNeck',
        in_channels=2048,
        fusion='concat',          # or 'sum' | 'average' | 'stfp'
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
