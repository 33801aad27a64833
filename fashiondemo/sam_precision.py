"""Which numeric precision SAM's image encoder runs in, and the autocast context that applies it.

Measured on the 2-core AVX512-BF16 CPU this project targets (bench/bench_sam.py, random vit_b weights):
bf16 autocast alone runs the encoder in 0.50x the fp32 time, with blockwise attention (below) in 0.38x, with
mask IoU >= 0.99 and low-res logit correlation > 0.9999 vs fp32. So "auto" means bf16 on CPUs with native
bf16 (AVX512-BF16 or AMX) and fp32 everywhere else: on CPUs without native bf16 it is emulated (slower), and
CUDA/MPS reduced precision has not been measured in this project (choose "bf16"/"fp16" explicitly there).
Only the encoder is affected: the prompt decoder and the cached features stay fp32. With any reduced
precision the encoder's attention also runs blockwise (fashiondemo.sam_attention), which removes most of
what autocast alone leaves memory-bound.
"""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (Linux); empty where unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    return any(flag in cpu_flags() for flag in _BF16_CPU_FLAGS)


def resolve_precision(requested: str, device: str) -> str:
    """'auto' -> the measured-good choice for this device; explicit choices are checked and kept."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    kind = device.split(":")[0]
    if requested == "fp16" and kind == "cpu":
        raise ValueError("fp16 autocast is for GPUs; on CPU use precision='bf16' or 'fp32'")
    if requested != "auto":
        return requested
    return "bf16" if kind == "cpu" and cpu_has_native_bf16() else "fp32"


def encoder_context(precision: str, device: str):
    """A context manager running the image encoder at `precision` on `device` (no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def describe_cpu() -> dict:
    """CPU facts for benchmark records: model name, logical cores, the flags that matter here."""
    import os

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    interesting = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma")
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "flags": sorted(flag for flag in interesting if flag in cpu_flags()),
        "native_bf16": cpu_has_native_bf16(),
    }
