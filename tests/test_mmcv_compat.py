"""mmcv_compat: mmseg imports on mmcv-lite via a stand-in mmcv._ext that fails only when an op is called."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from fashiondemo.mmcv_compat import (
    MissingCompiledOpError,
    ensure_mmseg_importable,
    has_compiled_mmcv,
    mmseg_iou_metric_class,
)

pytestmark = pytest.mark.skipif(has_compiled_mmcv(), reason="full mmcv installed: the stand-in is not used")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_mmseg_models_fail_to_import_without_the_stand_in():
    # The reason this module exists; if mmcv-lite ever ships compiled ops this test tells us to drop it.
    result = _run("import mmseg.models")
    assert result.returncode != 0
    assert "No module named 'mmcv._ext'" in result.stderr


def test_stand_in_makes_mmseg_models_and_iou_metric_importable():
    assert ensure_mmseg_importable() is True
    assert ensure_mmseg_importable() is True  # idempotent
    import mmseg.models  # noqa: F401
    from mmseg.models.backbones import HRNet
    from mmseg.models.decode_heads import OCRHead

    assert HRNet.__name__ == "HRNet" and OCRHead.__name__ == "OCRHead"
    metric = mmseg_iou_metric_class()
    assert metric.__name__ == "IoUMetric"


def test_stand_in_has_a_real_spec():
    ensure_mmseg_importable()
    spec = importlib.util.find_spec(
        "mmcv._ext"
    )  # ValueError if __spec__ were None (mmengine's Runner needs it)
    assert spec is not None and spec.name == "mmcv._ext"
    assert "stand-in" in spec.origin


def test_ops_raise_a_clear_error_only_when_called():
    ensure_mmseg_importable()
    import torch
    from mmcv.ops import nms  # importing is fine

    with pytest.raises(MissingCompiledOpError, match="mmcv op 'nms' needs mmcv's compiled extension"):
        nms(torch.zeros(1, 4), torch.zeros(1), 0.5)


def test_dunder_lookups_fail_normally():
    ensure_mmseg_importable()
    ext = sys.modules["mmcv._ext"]
    with pytest.raises(AttributeError):
        ext.__path__  # noqa: B018  (a module with __path__ would pass for a package)
    assert callable(ext.some_future_op)


def test_steps_aside_when_a_compiled_extension_is_present():
    # Simulate full mmcv: a compiled-looking mmcv._ext is already importable.
    result = _run(
        """
        import sys, types
        import mmcv
        real = types.ModuleType("mmcv._ext")
        sys.modules["mmcv._ext"] = real
        from fashiondemo.mmcv_compat import ensure_mmseg_importable, has_compiled_mmcv
        assert has_compiled_mmcv()
        assert ensure_mmseg_importable() is False
        assert sys.modules["mmcv._ext"] is real
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
