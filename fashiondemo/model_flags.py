"""The command-line flags that choose the models, shared by app.py and `python -m fashiondemo.review` so the
batch page runs exactly what the app runs (pure: argparse only)."""

from __future__ import annotations

import argparse
import os

from fashiondemo import settings
from fashiondemo.services import AppConfig

TEST_ONLY_SAM_VARIANT = "vit_tiny_test"


def _env_flag(name: str, default: str) -> bool:
    return os.getenv(name, default) not in ("0", "false", "no", "")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--random-weights, --ocrnet-*, --sam-*, --device, --no-download, with environment fallbacks."""
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="random weights for both models (development/tests; every output is labelled)",
    )
    parser.add_argument(
        "--ocrnet-checkpoint",
        default=os.getenv("FASHIONDEMO_OCRNET_CHECKPOINT"),
        help="exported OCRNet checkpoint: path, http(s) URL or hf://owner/repo/file",
    )
    parser.add_argument(
        "--ocrnet-infer-size",
        type=int,
        default=1024,
        help="long side OCRNet runs at (never enlarges); 512 is ~4x faster on CPU",
    )
    parser.add_argument(
        "--sam-variant",
        default=os.getenv("FASHIONDEMO_SAM_VARIANT", "vit_b"),
        choices=("vit_b", "vit_l", "vit_h", TEST_ONLY_SAM_VARIANT),
        help=f"SAM image encoder; {TEST_ONLY_SAM_VARIANT}: 2-block, tests only (needs --random-weights)",
    )
    parser.add_argument("--sam-checkpoint", default=None, help="SAM checkpoint path/URL (default: official)")
    parser.add_argument("--sam-precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default=os.getenv("FASHIONDEMO_DEVICE"), help="cpu, cuda, cuda:1, mps")
    parser.add_argument(
        "--no-download", action="store_true", help="never download weights (offline use); say what is missing"
    )


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **extra) -> AppConfig:
    """The AppConfig the flags (and environment) ask for; refuses the test-only SAM without random weights."""
    random_weights = args.random_weights or _env_flag("FASHIONDEMO_RANDOM_WEIGHTS", "0")
    if args.sam_variant == TEST_ONLY_SAM_VARIANT and not random_weights:
        parser.error(f"--sam-variant {TEST_ONLY_SAM_VARIANT} exists only for tests: add --random-weights")
    env = settings.from_env()
    return AppConfig(
        random_weights=random_weights,
        ocrnet_checkpoint=args.ocrnet_checkpoint,
        ocrnet_infer_size=args.ocrnet_infer_size,
        sam_variant=args.sam_variant,
        sam_checkpoint=args.sam_checkpoint,
        sam_precision=args.sam_precision,
        device=args.device,
        auto_download=not args.no_download and env.auto_download,
        sam_cache_entries=env.sam_cache_entries,
        sam_cache_bytes=env.sam_cache_mb << 20,
        **extra,
    )
