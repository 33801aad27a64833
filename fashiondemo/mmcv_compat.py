"""Make mmsegmentation 1.2.2 importable on mmcv-lite, which ships no compiled ``mmcv._ext``.

Every ``mmseg.models`` / ``mmseg.evaluation`` / ``mmseg.datasets`` import reaches ``mmcv.ops``, and each
``mmcv.ops`` file asks ``mmcv.utils.ext_loader.load_ext('_ext', [names])`` for compiled kernels at import
time. OCRNet (HRNetV2 + FCN/OCR heads), IoUMetric and the data pipeline call none of them, so a stand-in
``mmcv._ext`` whose ops raise only *when called* is enough. With real mmcv (compiled ``_ext``) installed this
module does nothing.

Call :func:`ensure_mmseg_importable` before the first mmseg import (every fashiondemo entry point that uses
mmseg does). Tests and benches that want mmseg's own ``IoUMetric`` use :func:`mmseg_iou_metric_class`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types

STAND_IN_NAME = "mmcv._ext"
_lock = threading.Lock()


class MissingCompiledOpError(RuntimeError):
    """An mmcv op needing compiled kernels was called while only mmcv-lite is installed."""


class _StandInLoader(importlib.abc.Loader):
    """Loader of the stand-in module; a real loader object so ``__spec__`` / ``find_spec`` look normal.

    mmengine's Runner (environment collection, registry scans) calls ``importlib.util.find_spec`` on
    imported modules, which raises ValueError for a module whose ``__spec__`` is None.
    """

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = (
            "fashiondemo stand-in for mmcv's compiled ops (mmcv-lite is installed); every op raises "
            "MissingCompiledOpError when called."
        )
        module.__getattr__ = _missing_op  # PEP 562: any op name resolves to a raising stub
        module.is_stand_in = True


def _missing_op(name: str):
    # Dunder lookups (``__path__``, ``__file__``, pickling hooks...) must fail normally, or importlib and
    # copy/pickle would mistake the module for something it is not.
    if name.startswith("__"):
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise MissingCompiledOpError(
            f"mmcv op {name!r} needs mmcv's compiled extension, but only mmcv-lite is installed. "
            "fashiondemo's OCRNet never calls it; for models that do, install full mmcv 2.1.0 "
            "(`pip install mmcv==2.1.0`, builds from source in ~15 CPU-minutes, needs setuptools<81)."
        )

    op.__name__ = name
    op.__qualname__ = f"stand_in.{name}"
    return op


def has_compiled_mmcv() -> bool:
    """True when a real compiled ``mmcv._ext`` is importable (full mmcv installed)."""
    module = sys.modules.get(STAND_IN_NAME)
    if module is not None:
        return not getattr(module, "is_stand_in", False)
    try:
        return importlib.util.find_spec(STAND_IN_NAME) is not None
    except (ImportError, ValueError):
        return False


def ensure_mmseg_importable() -> bool:
    """Register the stand-in ``mmcv._ext`` when mmcv has no compiled ops; idempotent and thread-safe.

    Returns:
        True if the stand-in is (now) in place, False when real mmcv is installed and nothing was done.
    """
    with _lock:
        existing = sys.modules.get(STAND_IN_NAME)
        if existing is not None:
            return bool(getattr(existing, "is_stand_in", False))
        if has_compiled_mmcv():
            return False
        import mmcv

        spec = importlib.machinery.ModuleSpec(
            STAND_IN_NAME, _StandInLoader(), origin="fashiondemo.mmcv_compat (stand-in)"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[STAND_IN_NAME] = module
        mmcv._ext = module
        return True


def mmseg_iou_metric_class():
    """mmseg's ``IoUMetric`` class, importable on mmcv-lite (reference for metric cross-checks)."""
    ensure_mmseg_importable()
    from mmseg.evaluation import IoUMetric

    return IoUMetric


def register_mmseg_modules() -> None:
    """Import mmseg's registries and ours (FashionpediaDataset), and make 'mmseg' the default scope."""
    ensure_mmseg_importable()
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    importlib.import_module("fashiondemo.dataset")
