"""The course report's run: OCRNet HRNetV2-W18 fine-tuned on Fashionpedia (val mIoU 14.93 / mAcc 19.01 / aAcc 93.7).

Images capped at 1024 px by `fashiondemo.prepare`, random rescale + 256x256 crops + flip, batch 8 on one GPU,
SGD lr 0.01 momentum 0.9 wd 5e-4, poly decay, 20k iterations, validation (mIoU) every 2k. Starts from mmseg's
HRNetV2-W18 OCRNet trained on VOC12Aug; both heads' 21-class `conv_seg` layers do not fit 47 classes, so they
keep their fresh initialisation (mmengine loads with strict=False and skips size-mismatched tensors).
Get the start checkpoint with `python -m fashiondemo.download ocrnet-voc12aug`.
"""
_base_ = [
    './_base_/ocrnet_hr18.py', './_base_/fashionpedia.py', './_base_/default_runtime.py',
    './_base_/schedule_20k.py'
]
crop_size = (256, 256)
model = dict(data_preprocessor=dict(size=crop_size))
load_from = 'checkpoints/ocrnet_hr18_512x512_20k_voc12aug_20200617_233932-8954cbb7.pth'
