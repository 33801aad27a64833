"""What bounds a model call on this CPU: its FLOPs, this machine's best GEMM rate, and where the measured
time goes (GEMM kernels vs resizing vs everything else: elementwise ops, softmax, norms, copies).

A target that is missed is explained with these three numbers: the FLOPs at the GEMM peak is the time the
arithmetic needs at best; the profiler's split says how much of the rest is memory-bound eager ops that only
fusion (a compiler) would remove. Imports torch: import it from benches that already use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

# Leaf kernels that do the multiply-adds (the profiler's self time lands on these).
GEMM_OPS = {
    "aten::addmm",
    "aten::mm",
    "aten::bmm",
    "aten::baddbmm",
    "aten::mkldnn_convolution",
    "aten::_slow_conv2d_forward",
    "aten::slow_conv_transpose2d",
    "aten::_convolution",
    "aten::convolution",
    "aten::conv2d",
    "aten::conv_transpose2d",
    "aten::linear",
    "aten::matmul",
    "aten::einsum",
}
RESIZE_OPS = {"aten::upsample_bilinear2d", "aten::upsample_nearest2d", "aten::_upsample_bilinear2d_aa"}


def matmul_peak_gflops(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """Best GEMM rate of this machine at the current thread count, in GFLOP/s, for square n x n matrices."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def gflop(fn: Callable[[], object]) -> float:
    """FLOPs (2 x multiply-adds of matmuls and convolutions) of one call, in GFLOP."""
    # inference_mode: FlopCounterMode's module tracker hooks autograd for any output that requires grad
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def time_split_ms(fn: Callable[[], object], repeats: int = 5, warm_up: bool = True) -> dict[str, float]:
    """Mean milliseconds per call spent in GEMM kernels, in resizing, and in everything else (each op's self
    time on the calling thread, which includes its intra-op parallel work), plus the wall time per call."""
    if warm_up:
        fn()  # outside the trace
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        wall = time.perf_counter() - start
    split = {"gemm_ms": 0.0, "resize_ms": 0.0, "other_ms": 0.0}
    for event in trace.key_averages():
        if event.key in GEMM_OPS:
            bucket = "gemm_ms"
        elif event.key in RESIZE_OPS:
            bucket = "resize_ms"
        elif event.key.startswith("aten::"):
            bucket = "other_ms"
        else:
            continue  # profiler's own user annotations would double count their children
        split[bucket] += event.self_cpu_time_total / 1e3 / repeats
    split["profiled_wall_ms"] = wall * 1e3 / repeats
    return {key: round(value, 2) for key, value in split.items()}
