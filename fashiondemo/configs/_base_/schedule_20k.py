# The report's schedule: SGD lr 0.01 momentum 0.9 wd 5e-4, poly decay (power 0.9, floor 1e-4), 20k iterations,
# validation (mIoU) and a checkpoint every 2k iterations.
max_iters = 20000
interval = 2000
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the 3 latest checkpoints plus the best one by validation mIoU.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, max_keep_ckpts=3,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
