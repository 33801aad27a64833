"""OCRNet (HRNetV2-W18, 47 Fashionpedia labels) as one stateful wrapper: numpy RGB in, label map out.

    seg = OcrnetSegmenter()                 # checkpoint: FASHIONDEMO_OCRNET_CHECKPOINT or the default file
    labels = seg.predict(rgb)               # (H, W) uint8, 0..46, at the input's size
    labels, probs = seg.predict_proba(rgb)  # + (47, H, W) float32 softmax

The network is built on first use (or by ``load()``) from the exported checkpoint, which carries its model
config; the device is chosen once (``settings.choose_device``). Inference skips mmseg's data pipeline: the
image is shrunk (never enlarged) so its long side is at most ``infer_size``, normalised as mmseg's
SegDataPreProcessor does, run through ``encode_decode`` (whole-image mode) and the logits are resized back
bilinearly before the argmax, exactly like mmseg's ``inference_model``. Two speed-ups keep fp32 and change
only the rounding: BatchNorm folded into the preceding convolutions (mmcv's ``fuse_conv_bn``: one pass less
over every feature map) and channels_last memory format (no layout reorders around oneDNN's convolutions);
``channels_last=False, fuse_bn=False`` gives mmseg's stock forward bit for bit. ``precision="bf16"``
(autocast) is opt-in: about twice as fast again on CPUs with AVX512-BF16, but how many labels it changes
depends on the weights (an untrained network disagrees a lot): measure it per checkpoint with
``bench/bench_ocrnet.py --checkpoint CKPT`` before relying on it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

import numpy as np

from fashiondemo import settings
from fashiondemo.classes import CLASS_NAMES, NUM_CLASSES, PALETTE
from fashiondemo.weights import MissingCheckpointError as _MissingWeights

DEFAULT_CHECKPOINT_NAME = "ocrnet_hr18_fashionpedia.pth"
DEFAULT_INFER_SIZE = 1024
# Faster CPU setting offered by the app: half the long side, about 4x fewer pixels, still fp32.
FAST_CPU_PRESET = {"infer_size": 512}
PRECISIONS = ("fp32", "bf16")
# SegDataPreProcessor's RGB mean/std of the packaged configs (ImageNet statistics).
_MEAN = (123.675, 116.28, 103.53)
_STD = (58.395, 57.12, 57.375)


class MissingCheckpointError(_MissingWeights):
    """No fine-tuned OCRNet checkpoint where one is expected; the message says how to get one."""


def default_checkpoint_path() -> Path:
    """Where the app looks for the fine-tuned model when nothing else is configured."""
    return settings.from_env().checkpoint_dir / DEFAULT_CHECKPOINT_NAME


def missing_checkpoint_message(path: Path) -> str:
    from fashiondemo.model_configs import REPORT_CONFIG

    return (
        f"No fine-tuned OCRNet checkpoint at {path}. Get one either way:\n"
        f"  1. train and export it: python -m fashiondemo.train {REPORT_CONFIG} --data-root DATA && "
        f"python -m fashiondemo.export work_dirs/{REPORT_CONFIG} {path}\n"
        "  2. point FASHIONDEMO_OCRNET_CHECKPOINT (or the app's --ocrnet-checkpoint) at an exported "
        "checkpoint file or its http(s):// / hf:// URL.\n"
        "For development without weights, use random weights (--random-weights): outputs are meaningless."
    )


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an (H, W, 3) uint8 RGB array; returns it C-contiguous."""
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"expected a numpy array (H, W, 3) uint8 RGB, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.dtype} of shape {rgb.shape}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"empty image of shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


class OcrnetSegmenter:
    """Lazy, thread-safe OCRNet inference.

    Args:
        checkpoint: an exported checkpoint: local path, http(s) URL or ``hf://owner/repo/file`` (fetched and
            verified by ``fashiondemo.weights``). Default: ``FASHIONDEMO_OCRNET_CHECKPOINT``, else
            ``checkpoints/ocrnet_hr18_fashionpedia.pth``.
        random_weights: build an untrained network instead (tests, development); ``.random_weights`` tells
            callers to label outputs as such.
        device: "cpu", "cuda", "cuda:1", "mps"; default ``settings.choose_device()``.
        infer_size: cap on the long side at inference, in pixels; never enlarges. Default: the checkpoint's
            test size (1024 for the report's configs).
        precision: "fp32" (default) or "bf16" (autocast).
        channels_last: run convolutions in NHWC (default True; False gives mmseg's stock NCHW layout).
        fuse_bn: fold eval-mode BatchNorm into the convolutions (default True; False keeps them separate).
        config: config name or path used with ``random_weights`` (default: the report's).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        random_weights: bool = False,
        device: str | None = None,
        infer_size: int | None = None,
        precision: str = "fp32",
        channels_last: bool = True,
        fuse_bn: bool = True,
        config: str | Path | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if infer_size is not None and infer_size < 32:
            raise ValueError(f"infer_size must be at least 32 pixels, got {infer_size}")
        self.random_weights = random_weights
        self._checkpoint_ref = (
            None if random_weights else (checkpoint or settings.from_env().ocrnet_checkpoint)
        )
        self._requested_device = device
        self._infer_size = infer_size
        self.precision = precision
        self.channels_last = channels_last
        self.fuse_bn = fuse_bn
        self._config = config
        self._lock = threading.Lock()
        self._model = None
        self.meta: dict = {}
        self.checkpoint_path: Path | None = None
        self.device: str | None = None

    # ----- lifecycle -----
    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def infer_size(self) -> int:
        return self._infer_size or int(self.meta.get("test_max_side") or DEFAULT_INFER_SIZE)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    @property
    def palette(self) -> np.ndarray:
        """(47, 3) uint8 RGB colours, one per label."""
        return PALETTE

    def resolve_checkpoint(self) -> Path:
        """The local checkpoint file (fetched if a URL); MissingCheckpointError when there is none."""
        from fashiondemo import weights

        if self._checkpoint_ref is None:
            path = default_checkpoint_path()
            if not path.is_file():
                raise MissingCheckpointError(missing_checkpoint_message(path))
            return path
        ref = str(self._checkpoint_ref)
        if "://" in ref:
            return weights.resolve_checkpoint(ref)[0]
        path = Path(ref).expanduser()
        if not path.is_file():
            raise MissingCheckpointError(missing_checkpoint_message(path))
        return path

    def load(self) -> OcrnetSegmenter:
        """Build the network now (otherwise it happens on the first prediction). Idempotent."""
        with self._lock:
            if self._model is None:
                self._model = self._build()
        return self

    def _build(self):
        import torch

        from fashiondemo.checkpoint_io import load_deployable
        from fashiondemo.mmcv_compat import register_mmseg_modules

        register_mmseg_modules()
        threads = settings.from_env().torch_threads
        if threads:
            torch.set_num_threads(threads)
        if self.random_weights:
            model_cfg, state_dict = self._random_model_cfg(), None
        else:
            self.checkpoint_path = self.resolve_checkpoint()
            checkpoint = load_deployable(self.checkpoint_path)
            self.meta, state_dict = checkpoint["meta"], checkpoint["state_dict"]
            _check_classes(self.meta, self.checkpoint_path)
            model_cfg = self.meta.get("model_cfg") or self._config_model_cfg(self.meta.get("config_name"))
        model = _build_network(model_cfg, state_dict, random_init=self.random_weights)
        self.device = settings.choose_device(self._requested_device)
        model = model.to(self.device).eval()
        if self.fuse_bn:
            from mmcv.cnn import fuse_conv_bn

            model = fuse_conv_bn(model)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._mean = torch.tensor(_MEAN, device=self.device).view(-1, 1, 1)
        self._std = torch.tensor(_STD, device=self.device).view(-1, 1, 1)
        return model

    def _random_model_cfg(self) -> dict:
        from fashiondemo.model_configs import test_max_side

        cfg = self._load_config(self._config)
        self.meta = {"config_name": str(self._config or "report"), "test_max_side": test_max_side(cfg)}
        return cfg.model.to_dict()

    def _config_model_cfg(self, name: str | None) -> dict:
        if not name:
            raise ValueError(f"{self.checkpoint_path} carries neither model_cfg nor config_name")
        return self._load_config(name).model.to_dict()

    @staticmethod
    def _load_config(name):
        from fashiondemo.model_configs import REPORT_CONFIG, load_config

        return load_config(name or REPORT_CONFIG)

    # ----- inference -----
    def logits(self, rgb: np.ndarray):
        """Class scores at the input's size: torch float32 tensor (47, H, W) on the model's device."""
        import torch
        import torch.nn.functional as F

        from fashiondemo.dataset import limited_size

        rgb = check_rgb(rgb)
        if self._model is None:
            self.load()
        height, width = rgb.shape[:2]
        new_h, new_w = limited_size(height, width, self.infer_size)
        x = self._preprocess(rgb, new_h, new_w)
        metas = [{"img_shape": (new_h, new_w), "ori_shape": (height, width), "pad_shape": (new_h, new_w)}]
        autocast = (
            torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with self._lock, torch.inference_mode(), autocast:
            scores = self._model.encode_decode(x, metas)
        with torch.inference_mode():
            scores = scores.float()
            if (new_h, new_w) != (height, width):
                # The same bilinear resize mmseg's postprocess_result applies (align_corners=False).
                scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
            return scores[0]

    def _preprocess(self, rgb: np.ndarray, new_h: int, new_w: int):
        import cv2
        import torch

        if (new_h, new_w) != rgb.shape[:2]:
            rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        elif not rgb.flags.writeable:
            rgb = rgb.copy()  # torch.from_numpy warns on read-only arrays (e.g. gradio's)
        x = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float()
        x = ((x - self._mean) / self._std).unsqueeze(0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Label map (H, W) uint8 in 0..46 for an (H, W, 3) uint8 RGB image."""
        return self.logits(rgb).argmax(dim=0).byte().cpu().numpy()

    def predict_proba(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels (H, W) uint8, probabilities (47, H, W) float32 summing to 1 over axis 0)."""
        scores = self.logits(rgb)
        labels = scores.argmax(dim=0).byte().cpu().numpy()
        return labels, scores.softmax(dim=0).cpu().numpy()

    def __repr__(self) -> str:
        source = (
            "random weights" if self.random_weights else str(self._checkpoint_ref or "default checkpoint")
        )
        return (
            f"OcrnetSegmenter({source}, device={self.device or self._requested_device or 'auto'}, "
            f"infer_size={self._infer_size or 'checkpoint'}, precision={self.precision}, "
            f"loaded={self.is_loaded})"
        )


def _check_classes(meta: dict, path: Path) -> None:
    classes = tuple(meta["dataset_meta"].get("classes", ()))
    if classes != CLASS_NAMES:
        raise ValueError(
            f"{path} predicts {len(classes)} classes that are not the {NUM_CLASSES} Fashionpedia labels "
            f"fashiondemo uses (first: {list(classes)[:3]})"
        )


def _build_network(model_cfg: dict, state_dict: dict | None, *, random_init: bool, seed: int = 0):
    """mmseg's segmentor from a model config; weights from ``state_dict`` or mmseg's random init.

    Random init is seeded for the whole build: some layers (the heads' ``conv_seg``, a few convs) take their
    values at construction, before ``init_weights``, so seeding only the latter left two builds different.
    """
    import torch
    from mmseg.registry import MODELS

    from fashiondemo.model_configs import replace_sync_bn

    model_cfg = replace_sync_bn(dict(model_cfg))
    model_cfg.update(pretrained=None, train_cfg=None)
    if state_dict is not None:
        model = MODELS.build(model_cfg)
        model.load_state_dict(state_dict, strict=True)
        return model
    with torch.random.fork_rng(devices=[]):  # seeded without touching the caller's random state
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        if random_init:
            _quiet_init_weights(model)
    return model


def init_random_weights(model, seed: int = 0) -> None:
    """mmseg's own initialisation (Kaiming convs, normal heads) from a fixed seed, without its per-tensor log
    and without touching the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _quiet_init_weights(model)


def calibrate_random_network(model, images, seed: int = 0) -> None:
    """Make a randomly initialised segmentor behave like a trained one's numbers (tests and benchmarks).

    An untrained network's eval-mode BatchNorm (mean 0, variance 1) lets activations compound layer after
    layer, and its argmax is one class everywhere, so "same labels" would hold trivially. Here every
    BatchNorm's running statistics become the exact mean and variance of its inputs over `images` (N, 3, H, W,
    normalised as the data preprocessor does), and the classifiers' biases are spread (normal, std 0.5, from
    `seed`) so that several classes win somewhere. The caller's random state is left alone; the model ends in
    eval mode.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one batch gives its exact statistics
    size = tuple(images.shape[-2:])
    model.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        model.encode_decode(images, [{"img_shape": size, "ori_shape": size}] * len(images))
        torch.manual_seed(seed)
        for head in model.decode_head:
            head.conv_seg.bias.data.normal_(0.0, 0.5)
    model.eval()


def _quiet_init_weights(model) -> None:
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
