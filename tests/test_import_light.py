"""`import fashiondemo` and its pure modules must not pull in torch, mmseg, segment_anything or gradio."""

import subprocess
import sys

import pytest

PURE_MODULES = [
    "fashiondemo",
    "fashiondemo.classes",
    "fashiondemo.settings",
    "fashiondemo.images",
    "fashiondemo.fashionpedia",
    "fashiondemo.synthetic",
    "fashiondemo.masks",
    "fashiondemo.metrics",
    "fashiondemo.report_table",
    "fashiondemo.compare",
    "fashiondemo.drawing",
    "fashiondemo.rle",
    "fashiondemo.plots",
    "fashiondemo.sources",
    "fashiondemo.session",
    "fashiondemo.services",
    "fashiondemo.handlers",
    "fashiondemo.api",
    "fashiondemo.model_flags",
    "fashiondemo.weights",
    "fashiondemo.sam_cache",
    "fashiondemo.sam_prompts",
]
HEAVY = ("torch", "mmseg", "mmcv", "mmengine", "segment_anything", "gradio")


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_heavy_library(module):
    code = (
        f"import sys, {module}\nheavy = [m for m in {HEAVY!r} if m in sys.modules]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"
