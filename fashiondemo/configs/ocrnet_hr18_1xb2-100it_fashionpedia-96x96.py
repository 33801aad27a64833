"""Tiny CPU variant for tests and smoke runs: the report's recipe shrunk to run in ~1 minute on 2 cores.

96x96 crops, batch 2, 100 iterations, validation and checkpoints every 20, inference long side 128, no
start checkpoint (random init), data loading in the main process. Not meant to give a useful model.
"""
_base_ = ['./ocrnet_hr18_1xb8-20k_fashionpedia-256x256.py']
crop_size = (96, 96)
max_iters = 100
interval = 20
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LimitLongSide', max_side=128),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(data_preprocessor=dict(size=crop_size))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=interval)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=interval, max_keep_ckpts=2, save_best=None))
load_from = None
