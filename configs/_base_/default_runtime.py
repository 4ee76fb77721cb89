# Runtime shared by every stadl_plugins config.
custom_imports = dict(imports=['stadl_plugins'], allow_failed_imports=False)
default_scope = 'mmaction'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', interval=1, save_best='auto', max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # A rank that hangs (NFS stall, dataloader deadlock, uneven data) fails the job
    # after `timeout` seconds instead of torch's default (10-30 min). Raise it when
    # a step that only some ranks run can take longer (rank-0 evaluation of a large
    # set, a first CheckedAVADataset frame check). STADL_DIST_TIMEOUT=<s> overrides.
    dist_cfg=dict(backend='nccl', timeout=900))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
