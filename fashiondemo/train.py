"""Train OCRNet with mmengine's Runner from one of the package's configs (or any mmseg config file).

    python -m fashiondemo.train CONFIG [--data-root DIR] [--work-dir DIR] [--resume [CKPT]] [--amp]
                                       [--cfg-options KEY=VALUE ...]
    torchrun --nproc_per_node N -m fashiondemo.train CONFIG --launcher pytorch     # several GPUs

CONFIG is a packaged name (``ocrnet_hr18_1xb8-20k_fashionpedia-256x256``, see ``--list``) or a path. The
config holds every hyper-parameter; the flags only override. The loss is logged every few iterations and the
curve is kept in ``WORK_DIR/<timestamp>/vis_data/scalars.json``. Off-GPU (or single-process) runs use BN in
place of SyncBN. ``--resume`` reads our own training checkpoints under torch's ``weights_only`` loading, with
only mmengine's bookkeeping classes allowed (see checkpoint_io).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fashiondemo import settings
from fashiondemo.model_configs import (
    config_name,
    get_config_path,
    list_config_names,
    load_config,
    set_data_root,
)

START_CHECKPOINT_KEY = "ocrnet-voc12aug"


class TrainSetupError(RuntimeError):
    """The run cannot start: the message says what is missing and how to get it."""


def resolve_load_from(load_from: str) -> Path:
    """The local start checkpoint named by a config's ``load_from``; never downloads.

    A relative path is tried from the current directory, then by file name in the checkpoint folder
    (``FASHIONDEMO_CHECKPOINT_DIR``, default ``checkpoints/`` in the repository).
    """
    if "://" in load_from:
        raise TrainSetupError(
            f"load_from={load_from!r} is a URL; fashiondemo never downloads during training. Download it "
            f"first (the report's start point: `python -m fashiondemo.download {START_CHECKPOINT_KEY}`) and "
            "pass the local path with --cfg-options load_from=PATH"
        )
    path = Path(load_from).expanduser()
    candidates = [path] if path.is_absolute() else [path, settings.from_env().checkpoint_dir / path.name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise TrainSetupError(
        f"the start checkpoint {path.name} is missing (looked in: {', '.join(map(str, candidates))}). Get it "
        f"with `python -m fashiondemo.download {START_CHECKPOINT_KEY}`, or train from scratch with "
        "--cfg-options load_from=None"
    )


def check_data_root(cfg) -> None:
    """Fail early, with the prepare command, when the prepared training split is not there."""
    dataset = cfg.train_dataloader.dataset
    images = Path(dataset.data_root) / dataset.data_prefix["img_path"]
    if not images.is_dir() or not any(images.iterdir()):
        raise TrainSetupError(
            f"no prepared training images in {images}. Prepare Fashionpedia (or the synthetic set) with "
            "`python -m fashiondemo.prepare --ann instances_attributes_train2020.json --images train/ "
            "--out DIR` (and the same for val) and pass --data-root DIR"
        )


def _latest_checkpoint(work_dir: Path) -> Path:
    marker = work_dir / "last_checkpoint"
    if not marker.is_file():
        raise TrainSetupError(
            f"--resume: no checkpoint to resume from in {work_dir} (no last_checkpoint file)"
        )
    path = Path(marker.read_text().strip())
    # A work dir copied elsewhere keeps the old absolute path in last_checkpoint.
    return path if path.is_file() else work_dir / path.name


def build_config(args: argparse.Namespace):
    """The mmengine Config of this run: the chosen config file with the command line's overrides."""
    distributed = args.launcher != "none"
    import torch

    if distributed and not torch.cuda.is_available():
        # mmengine's launchers give each process its own CUDA device (torch.cuda.set_device).
        raise TrainSetupError(f"--launcher {args.launcher} needs CUDA GPUs; on CPU train in one process")
    cfg = load_config(args.config, cfg_options=args.cfg_options, distributed=distributed)
    cfg.launcher = args.launcher
    work_dir = (
        args.work_dir or cfg.get("work_dir") or Path("work_dirs") / config_name(get_config_path(args.config))
    )
    cfg.work_dir = str(work_dir)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    check_data_root(cfg)
    if args.amp:
        if not torch.cuda.is_available():
            raise TrainSetupError("--amp needs a CUDA GPU (mmengine's AmpOptimWrapper); leave it out on CPU")
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    if args.resume is not None:
        resume_from = Path(args.resume) if args.resume else _latest_checkpoint(Path(cfg.work_dir))
        if not resume_from.is_file():
            raise TrainSetupError(f"--resume: checkpoint {resume_from} does not exist")
        cfg.resume, cfg.load_from = True, str(resume_from)
    elif cfg.get("load_from"):
        cfg.load_from = str(resolve_load_from(cfg.load_from))
    return cfg


def _runner_class():
    from mmengine.runner import Runner

    from fashiondemo.checkpoint_io import training_checkpoint_globals

    class SafeResumeRunner(Runner):
        """mmengine's Runner whose resume reads our training checkpoints with weights_only still on."""

        def resume(self, filename, *args, **kwargs):
            with training_checkpoint_globals():
                return super().resume(filename, *args, **kwargs)

    return SafeResumeRunner


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(prog="python -m fashiondemo.train", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="packaged config name or path to an mmseg config file")
    parser.add_argument("--list", action="store_true", help="list the packaged config names and exit")
    parser.add_argument("--data-root", type=Path, help="prepared data (img_dir/, ann_dir/) for every split")
    parser.add_argument("--work-dir", type=Path, help="logs and checkpoints (default work_dirs/CONFIG_NAME)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CKPT",
        help="continue a stopped run: from CKPT, or from the work dir's last checkpoint",
    )
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, help="override config keys: KEY=VALUE")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.list and not args.config:
        parser.error("CONFIG is required (see --list)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(list_config_names()))
        return 0
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    threads = settings.from_env().torch_threads
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        cfg = build_config(args)
    except (TrainSetupError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner = _runner_class().from_cfg(cfg)
    runner.train()
    last = Path(cfg.work_dir) / "last_checkpoint"
    if last.is_file():
        print(f"done: last checkpoint {last.read_text().strip()}")
        print(f"deployable checkpoint: python -m fashiondemo.export {cfg.work_dir} OUT.pth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
