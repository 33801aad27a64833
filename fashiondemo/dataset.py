"""Fashionpedia as an mmseg dataset (only its METAINFO), and the never-upsizing test-time resize.

Reads the layout ``python -m fashiondemo.prepare`` writes: ``ROOT/img_dir/{split}/{stem}.jpg`` beside
``ROOT/ann_dir/{split}/{stem}.png`` (uint8 labels 0..46, 255 ignore). Labels are already 0-based with 0 =
background, so ``reduce_zero_label`` stays False. Importing this module imports mmseg (configs name it in
``custom_imports``).
"""

from __future__ import annotations

from typing import ClassVar

import cv2

from fashiondemo.classes import dataset_meta
from fashiondemo.mmcv_compat import ensure_mmseg_importable

ensure_mmseg_importable()

from mmcv.transforms import BaseTransform  # noqa: E402  (mmseg imports need the stand-in above)
from mmseg.datasets import BaseSegDataset  # noqa: E402
from mmseg.registry import DATASETS, TRANSFORMS  # noqa: E402


@DATASETS.register_module()
class FashionpediaDataset(BaseSegDataset):
    """Fashionpedia semantic segmentation: 47 classes (background + 46 categories), 255 ignored."""

    METAINFO: ClassVar[dict] = dataset_meta()

    def __init__(self, img_suffix=".jpg", seg_map_suffix=".png", reduce_zero_label=False, **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs,
        )


def limited_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) after shrinking so the long side is at most ``max_side``; never enlarges.

    Rounds like mmcv's ``imrescale`` (``int(side * scale + 0.5)``), so the inference wrapper and the mmseg
    test pipeline agree on the resized shape to the pixel; a side never drops below 1 (e.g. 10000x3 images).
    """
    if max_side <= 0 or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


@TRANSFORMS.register_module()
class LimitLongSide(BaseTransform):
    """Shrink the image (bilinear) so its long side is at most ``max_side``, keeping the aspect ratio.

    Unlike ``Resize(scale=(2048, 1024), keep_ratio=True)`` in mmseg's Cityscapes test pipeline, images that
    already fit are left alone: upsizing costs inference time and does not match how the model was trained.
    Updates ``img``, ``img_shape``, ``scale_factor`` (w, h) and ``keep_ratio`` like mmcv's Resize.
    """

    def __init__(self, max_side: int = 1024) -> None:
        if max_side <= 0:
            raise ValueError(f"max_side must be positive, got {max_side}")
        self.max_side = max_side

    def transform(self, results: dict) -> dict:
        img = results["img"]
        height, width = img.shape[:2]
        new_h, new_w = limited_size(height, width, self.max_side)
        if (new_h, new_w) != (height, width):
            img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["scale_factor"] = (new_w / width, new_h / height)
        results["keep_ratio"] = True
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_side={self.max_side})"
