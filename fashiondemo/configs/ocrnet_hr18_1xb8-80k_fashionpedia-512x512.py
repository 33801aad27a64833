"""A stronger Fashionpedia OCRNet, aimed well above the report's 14.93 mIoU.

Why each change (the report blames class imbalance: background and a few garments dominate the pixels, while
most of the 19 part/closure/decoration classes are thin or tiny and end near 0 IoU):
- 512x512 crops instead of 256x256: at 256 a crop of a 1024 px image shows a fragment of one garment, and a
  zipper or rivet is a handful of pixels at 1/4 resolution in the head; 512 keeps context and small parts.
- 80k iterations instead of 20k: 20k x 8 images is ~3.5 epochs over the 45,623 training images; rare classes
  get too few gradient steps. 80k is ~14 epochs (mmseg's ADE20K OCRNet schedules use 80k-160k).
- OHEM pixel sampling on the OCR head's cross-entropy (keep pixels whose true-class probability is < 0.7, at
  least 100k of the 262k pixels per crop): the loss stops being dominated by easy background pixels, so rare
  classes weigh more, without per-class frequencies that depend on the data release.
- Lovasz-softmax loss next to cross-entropy on the OCR head: a convex surrogate of per-class IoU averaged over
  the classes present in the batch, so a tiny class counts as much as background, which is what mIoU measures.
- Photometric distortion: Fashionpedia mixes studio, street and catalogue photos.
Compute: ~16x the report's (4x pixels per crop, 4x iterations); on a GPU, `--amp` cuts memory and time.
"""
_base_ = ['./ocrnet_hr18_1xb8-20k_fashionpedia-256x256.py']
crop_size = (512, 512)
max_iters = 80000
interval = 8000
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
norm_cfg = dict(type='SyncBN', requires_grad=True)
# mmengine replaces lists from _base_ wholesale, so both heads are written out; only the OCR head changes.
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=[
        dict(
            type='FCNHead',
            in_channels=[18, 36, 72, 144],
            channels=sum([18, 36, 72, 144]),
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            kernel_size=1,
            num_convs=1,
            concat_input=False,
            dropout_ratio=-1,
            num_classes=47,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(
            type='OCRHead',
            in_channels=[18, 36, 72, 144],
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            channels=512,
            ocr_channels=256,
            dropout_ratio=-1,
            num_classes=47,
            norm_cfg=norm_cfg,
            align_corners=False,
            sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100000),
            loss_decode=[
                dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, loss_name='loss_ce'),
                dict(type='LovaszLoss', loss_type='multi_class', classes='present', per_image=False,
                     reduction='none', loss_weight=0.5, loss_name='loss_lovasz'),
            ]),
    ])
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=interval)
default_hooks = dict(checkpoint=dict(interval=interval))
