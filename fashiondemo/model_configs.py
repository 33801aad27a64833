"""Where the package's mmseg configs live, and loading one ready for this machine.

The configs in ``fashiondemo/configs/`` are the single source of truth for hyper-parameters; CLIs only
override (``--cfg-options``, ``--data-root``). Names follow mmseg's
``{algo}_{backbone}_{gpus}xb{batch}-{iters}_{dataset}-{crop}`` convention.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
REPORT_CONFIG = "ocrnet_hr18_1xb8-20k_fashionpedia-256x256"
STRONG_CONFIG = "ocrnet_hr18_1xb8-80k_fashionpedia-512x512"
TINY_CONFIG = "ocrnet_hr18_1xb2-100it_fashionpedia-96x96"


def list_config_names() -> list[str]:
    """Names of the experiment configs shipped in the package (without ``.py``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.py") if not p.name.startswith("_"))


def get_config_path(name_or_path: str | Path) -> Path:
    """Path of a config given one of our names (with or without ``.py``) or a path to any config file."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".py" and candidate.is_file():
        return candidate.resolve()
    stem = candidate.name.removesuffix(".py")
    packaged = CONFIG_DIR / f"{stem}.py"
    if str(candidate.parent) in (".", "") and packaged.is_file():
        return packaged
    raise FileNotFoundError(
        f"no config {str(name_or_path)!r}: give a path to an mmseg config file or one of the packaged "
        f"names: {', '.join(list_config_names())}"
    )


def config_name(path: str | Path) -> str:
    """The short name a config is known by (its file stem)."""
    return Path(path).name.removesuffix(".py")


def replace_sync_bn(node):
    """Return ``node`` with every ``SyncBN`` norm config turned into ``BN`` (in place for dicts/lists).

    SyncBN needs an initialised process group; a single process (CPU, one GPU, evaluation, the app) uses BN,
    which is the same layer with per-process statistics.
    """
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"
        for value in node.values():
            replace_sync_bn(value)
    elif isinstance(node, list | tuple):
        for value in node:
            replace_sync_bn(value)
    return node


def load_config(name_or_path: str | Path, *, cfg_options: dict | None = None, distributed: bool = False):
    """An ``mmengine.Config`` from one of our config names or a path, with overrides applied.

    Args:
        name_or_path: a packaged config name or a config file path.
        cfg_options: mmengine-style dotted overrides, e.g. ``{"train_cfg.max_iters": 100}``.
        distributed: keep SyncBN (several processes); otherwise it becomes BN.
    """
    from fashiondemo.mmcv_compat import ensure_mmseg_importable

    ensure_mmseg_importable()
    from mmengine.config import Config

    cfg = Config.fromfile(str(get_config_path(name_or_path)))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not distributed:
        for key in cfg:  # the model, and leftover variables such as a top-level norm_cfg
            replace_sync_bn(cfg[key])
    return cfg


def set_data_root(cfg, data_root: str | Path) -> None:
    """Point the train, val and test datasets of ``cfg`` at ``data_root`` (prepared layout)."""
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        dataset = cfg.get(loader, {}).get("dataset")
        if dataset is not None:
            dataset["data_root"] = str(data_root)


def test_max_side(cfg, default: int = 1024) -> int:
    """The long-side cap of the config's test pipeline (its ``LimitLongSide``), else ``default``."""
    for step in cfg.get("test_pipeline", []):
        if step.get("type") == "LimitLongSide":
            return int(step["max_side"])
    return default
