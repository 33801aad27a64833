# Fashionpedia in the layout `python -m fashiondemo.prepare` writes (images already capped at 1024 px):
#   DATA_ROOT/img_dir/{train,val}/{stem}.jpg + DATA_ROOT/ann_dir/{train,val}/{stem}.png (0..46, 255 ignore).
# `python -m fashiondemo.train CONFIG --data-root DIR` points every split at another folder.
dataset_type = 'FashionpediaDataset'
data_root = 'data/fashionpedia'
crop_size = (256, 256)
# The report's augmentation on top of mmseg's VOC12Aug recipe (the checkpoint it starts from): random rescale
# (short side ~512 x 0.5..2), random 256x256 crop (no crop may be >75% one class), horizontal flip.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# Inference at the training resolution: long side at most 1024, never upsized (mmseg's Cityscapes pipeline
# resizes everything to 2048x1024, which blows small images up and costs ~1.6x on CPU). Ground truth is loaded
# after the resize, so metrics are computed at the original resolution, as in mmseg.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LimitLongSide', max_side=1024),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
