"""Turn a training run into the deployable OCRNet checkpoint the app and evaluate load.

    python -m fashiondemo.export WORK_DIR_OR_CKPT OUT.pth [--pick last|best] [--fp16] [--config NAME]

Writes ``{"state_dict": {name: tensor}, "meta": {...}}`` with nothing but tensors and plain containers, so it
loads with ``torch.load(weights_only=True)``; no optimizer or scheduler state, so it is a fraction of the
training checkpoint's size. ``meta`` carries ``dataset_meta`` (classes, palette: OCRNet's heads need them),
the config name and the model section of the config (so the app builds the network without the config file),
the inference size, and provenance: iteration, source file name and SHA-256, export time, library versions.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from fashiondemo.checkpoint_io import DEPLOY_FORMAT, safe_torch_load, save_atomic
from fashiondemo.classes import CLASS_NAMES, dataset_meta
from fashiondemo.weights import CheckpointError

_TIMESTAMP_SUFFIX = re.compile(r"_\d{8}_\d{6}$")


class ExportError(CheckpointError):
    """The source cannot be exported; the message says why."""


def pick_checkpoint(source: Path, pick: str = "last") -> Path:
    """The training checkpoint in ``source``: the file itself, or a work dir's last or best-mIoU one."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise ExportError(f"{source} is neither a checkpoint file nor a training work dir")
    if pick == "best":
        best = sorted(source.glob("best_*.pth"), key=lambda p: p.stat().st_mtime)
        if not best:
            raise ExportError(f"no best_*.pth in {source} (the config's CheckpointHook needs save_best)")
        return best[-1]
    marker = source / "last_checkpoint"
    if not marker.is_file():
        raise ExportError(f"no last_checkpoint in {source}: has a training run saved a checkpoint there?")
    path = Path(marker.read_text().strip())
    # A work dir copied elsewhere keeps its old absolute path in last_checkpoint.
    return path if path.is_file() else source / path.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_section(meta: dict, config: str | None):
    """(config name, model cfg as a plain dict, test max side) from --config or the checkpoint's config."""
    from fashiondemo.model_configs import (
        config_name,
        get_config_path,
        load_config,
        replace_sync_bn,
        test_max_side,
    )

    if config:
        cfg = load_config(config)
        name = config_name(get_config_path(config))
    elif meta.get("cfg"):
        from mmengine.config import Config

        cfg = Config.fromstring(meta["cfg"], file_format=".py")
        name = _TIMESTAMP_SUFFIX.sub("", str(meta.get("experiment_name", "unknown")))
    else:
        raise ExportError(
            "the checkpoint carries no config (meta.cfg); name the one it was trained with: --config"
        )
    return name, replace_sync_bn(cfg.model.to_dict()), test_max_side(cfg)


def _check_classes(meta: dict, source: Path) -> None:
    classes = (meta.get("dataset_meta") or {}).get("classes")
    if classes is not None and tuple(classes) != CLASS_NAMES:
        raise ExportError(
            f"{source} was trained on {len(classes)} classes that are not fashiondemo's 47 Fashionpedia "
            f"labels (first: {list(classes)[:3]})"
        )


def export(
    source: Path, out: Path, *, pick: str = "last", fp16: bool = False, config: str | None = None
) -> dict:
    """Write the deployable checkpoint for ``source`` to ``out`` (atomically); returns its ``meta``."""
    import mmseg
    import torch

    ckpt_path = pick_checkpoint(Path(source), pick)
    checkpoint = safe_torch_load(ckpt_path, training=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ExportError(f"{ckpt_path} has no state_dict: not an mmengine/mmseg checkpoint")
    meta = checkpoint.get("meta") or {}
    _check_classes(meta, ckpt_path)
    name, model_cfg, max_side = _model_section(meta, config)
    dtype = torch.float16 if fp16 else torch.float32
    state_dict = {
        key: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
        for key, value in checkpoint["state_dict"].items()
    }
    out_meta = {
        "format": DEPLOY_FORMAT,
        "dataset_meta": dataset_meta(),
        "config_name": name,
        "model_cfg": model_cfg,
        "test_max_side": max_side,
        "dtype": str(dtype).removeprefix("torch."),
        "iteration": int(meta.get("iter", -1)),
        "experiment_name": str(meta.get("experiment_name", "")),
        "source_file": ckpt_path.name,
        "source_sha256": sha256_of(ckpt_path),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": str(torch.__version__), "mmseg": str(mmseg.__version__)},
    }
    save_atomic({"state_dict": state_dict, "meta": out_meta}, out, check_weights_only=True)
    return out_meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashiondemo.export", description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="training work dir or an mmengine training checkpoint")
    parser.add_argument("out", type=Path, help="deployable checkpoint to write (.pth)")
    parser.add_argument(
        "--pick", choices=["last", "best"], default="last", help="which checkpoint of a work dir"
    )
    parser.add_argument("--fp16", action="store_true", help="store float weights as fp16 (half the size)")
    parser.add_argument("--config", help="config it was trained with, if the checkpoint does not carry it")
    args = parser.parse_args(argv)
    from fashiondemo.mmcv_compat import ensure_mmseg_importable

    ensure_mmseg_importable()
    try:
        meta = export(args.source, args.out, pick=args.pick, fp16=args.fp16, config=args.config)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source_size = pick_checkpoint(args.source, args.pick).stat().st_size
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {meta['dtype']}; training checkpoint "
        f"{meta['source_file']} {source_size / 1e6:.1f} MB): config {meta['config_name']}, "
        f"iteration {meta['iteration']}, source sha256 {meta['source_sha256'][:12]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
