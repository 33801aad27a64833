"""OCRNet inference on CPU: the app's wrapper vs the stock mmseg forward and mmseg's inference_model.

    .venv/bin/python bench/bench_ocrnet.py [--checkpoint CKPT] [--sizes 512x512 768x1024] [--repeats 5]
        [--threads 2] [--image examples/photos/astronaut_eileen_collins.jpg]

All in one run, interleaved round by round so machine load hits every variant alike, at each size (H x W; the
image is resized to it, and the wrapper's infer_size is the long side so nothing is shrunk or enlarged):
- stock raw forward: mmseg's model as ``init_model`` builds it (NCHW, fp32), ``encode_decode`` on a tensor
  normalised beforehand, under ``no_grad``: the network alone, no pre/post-processing.
- wrapper fp32: ``OcrnetSegmenter.predict`` end to end (RGB uint8 in -> label map out) as the app runs it:
  BatchNorm folded into the convolutions + channels_last.
- wrapper fp32, channels_last only: the same without BN folding (what each speed-up contributes).
- wrapper bf16: the default wrapper plus bf16 autocast (opt-in ``precision="bf16"``).
- inference_model: mmseg's own API with the config's test pipeline (never upsizes), end to end.
- inference_model, Cityscapes pipeline: mmseg's stock OCRNet test pipeline ``Resize(2048, 1024)``, which
  upsizes the image before the forward.
Label agreement of each variant with the stock forward's argmax is measured on the same image.
Without --checkpoint the network has random weights (speed is the architecture's; agreement figures then only
say how numerically stable the variant is on an untrained net: rerun with a trained checkpoint).
Times: median (what a user waits) and minimum (the round least disturbed by other work on a shared machine);
ratios of both. The bound: the forward's FLOPs (bench/_roofline.py) at this machine's best fp32 GEMM rate.
Prints a markdown table and writes bench/results/ocrnet.json. Target (issue 6): wrapper fp32 / stock raw
forward <= 0.65 with identical labels.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    RESULTS_DIR,
    finish_record,
    markdown_table,
    median,
    start_record,
    verdict,
)
from _roofline import gflop, matmul_peak_gflops, time_split_ms

TARGET_RATIO = 0.65
TIE_RELATIVE_MARGIN = 1e-3
# The classifier-bias seed of the random network. Picked among 0..2 for the most varied label map (17 classes
# at 512x512, the largest 53% of the pixels, vs 6 / 98% for seed 0): more near-ties make the agreement figures
# harder to pass, not easier. Every run records the map's variety (bounds.stock_label_map).
BIAS_SEED = 2
CITYSCAPES_RESIZE = {"type": "Resize", "scale": (2048, 1024), "keep_ratio": True}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="exported OCRNet checkpoint (default: random weights)"
    )
    parser.add_argument("--sizes", nargs="+", default=["512x512", "768x1024"], help="HxW sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per size (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--image", type=Path, default=REPO / "examples/photos/astronaut_eileen_collins.jpg")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ocrnet.json")
    parser.add_argument("--skip-cityscapes", action="store_true", help="leave out the upsizing pipeline")
    return parser.parse_args(argv)


def random_checkpoint(folder: Path) -> Path:
    """A deployable checkpoint of the report config's network: mmseg's random init (seed 0), then BatchNorm
    statistics calibrated on the bundled example images and the classifiers' biases spread, as the tests'
    random model. Without that, activations compound to huge values and the argmax is one class everywhere,
    which would make every "labels = stock" figure 100% trivially; with it, the label map has many classes and
    near-ties like a real model's, so the agreement figures can fail."""
    import torch
    from mmseg.registry import MODELS

    from fashiondemo.classes import dataset_meta
    from fashiondemo.export import export
    from fashiondemo.mmcv_compat import register_mmseg_modules
    from fashiondemo.model_configs import REPORT_CONFIG, load_config
    from fashiondemo.ocrnet import calibrate_random_network, init_random_weights

    register_mmseg_modules()
    cfg = load_config(REPORT_CONFIG)
    # Seeded from construction on (some layers draw their values there), so every run times the same network.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    init_random_weights(model, seed=0)
    calibrate_random_network(model, example_batch(), seed=BIAS_SEED)
    training = folder / "random.pth"
    meta = {"cfg": cfg.pretty_text, "experiment_name": f"{REPORT_CONFIG}_00000000_000000", "iter": 0}
    torch.save({"state_dict": model.state_dict(), "meta": {**meta, "dataset_meta": dataset_meta()}}, training)
    export(training, folder / "deploy.pth")
    return folder / "deploy.pth"


def example_batch(size: int = 256):
    """The bundled example images at size x size, normalised: what the random network is calibrated on."""
    import cv2
    import torch

    from fashiondemo.images import load_rgb

    paths = sorted((REPO / "examples").rglob("*.jpg"))
    return torch.stack([normalised(cv2.resize(load_rgb(p), (size, size)))[0] for p in paths])


def weights_digest(checkpoint: Path) -> str:
    """SHA-256 over the state dict's names and values: the same network gives the same digest, whatever
    the file's metadata (the file's own hash changes with it)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"].items():
        digest.update(name.encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def stock_model(checkpoint: Path, max_side: int, test_pipeline: list | None = None):
    """mmseg's model the stock way: ``init_model`` from the checkpoint's config (NCHW, fp32); its test
    pipeline is ours (never upsizes) capped at the bench's size, unless another one is given."""
    import torch
    from mmengine.config import Config
    from mmseg.apis import init_model

    meta = torch.load(checkpoint, weights_only=True)["meta"]
    pipeline = test_pipeline or [
        {"type": "LoadImageFromFile"},
        {"type": "LimitLongSide", "max_side": max_side},
        {"type": "PackSegInputs"},
    ]
    cfg = Config({"model": meta["model_cfg"], "test_pipeline": pipeline, "default_scope": "mmseg"})
    return init_model(cfg, str(checkpoint), device="cpu")


def normalised(rgb: np.ndarray):
    import torch

    mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    return ((torch.from_numpy(rgb).permute(2, 0, 1).float() - mean) / std)[None]


def bench_size(rgb, checkpoint, repeats, cityscapes):
    """Times (seconds per call) and labels of every variant at the image's size."""
    import torch
    from mmseg.apis import inference_model

    from fashiondemo.ocrnet import OcrnetSegmenter

    height, width = rgb.shape[:2]
    side = max(height, width)
    stock = stock_model(checkpoint, side)
    fp32 = OcrnetSegmenter(checkpoint, device="cpu", infer_size=side).load()
    unfused = OcrnetSegmenter(checkpoint, device="cpu", infer_size=side, fuse_bn=False).load()
    bf16 = OcrnetSegmenter(checkpoint, device="cpu", infer_size=side, precision="bf16").load()
    x, metas = normalised(rgb), [{"img_shape": (height, width), "ori_shape": (height, width)}]
    bgr = np.ascontiguousarray(rgb[..., ::-1])

    def raw():
        with torch.no_grad():
            return stock.encode_decode(x, metas)[0].argmax(0).byte().numpy()

    with torch.no_grad():
        scores = stock.encode_decode(x, metas)[0]
    top_two = scores.topk(2, dim=0).values
    # How close the stock forward's best two classes are at each pixel, relative to the logits' range: a
    # pixel whose label flips under another rounding should be one of these near-ties.
    relative_margin = ((top_two[0] - top_two[1]) / scores.abs().max()).numpy()
    # The fp32 fast path's largest score difference from the stock forward, relative to the same range: a
    # label can only flip where the top-two gap is below twice this.
    fp32_logit_error = float((fp32.logits(rgb) - scores).abs().max() / scores.abs().max())

    variants = {
        "stock raw forward (NCHW fp32)": raw,
        "wrapper fp32 (BN folded + channels_last)": lambda: fp32.predict(rgb),
        "wrapper fp32, channels_last only": lambda: unfused.predict(rgb),
        "wrapper bf16": lambda: bf16.predict(rgb),
        "mmseg inference_model": lambda: inference_model(stock, bgr).pred_sem_seg.data[0].byte().numpy(),
    }
    if cityscapes:
        upsizing = stock_model(
            checkpoint, side, [{"type": "LoadImageFromFile"}, CITYSCAPES_RESIZE, {"type": "PackSegInputs"}]
        )
        variants["inference_model, Cityscapes Resize(2048,1024)"] = lambda: (
            inference_model(upsizing, bgr).pred_sem_seg.data[0].byte().numpy()
        )
    labels = {name: fn() for name, fn in variants.items()}  # warm-up + labels
    labels["gflop"] = gflop(lambda: stock.encode_decode(x, metas))  # convolutions + matrix products
    labels["relative_margin"] = relative_margin
    labels["fp32_logit_error"] = fp32_logit_error
    times = {name: [] for name in variants}
    for _ in tqdm(range(repeats), desc=f"{height}x{width}", unit="round"):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    # Where each spends its time (profiled separately, after the timed rounds): GEMM kernels vs the rest.
    labels["time_split_ms"] = {
        name: time_split_ms(variants[name], repeats=2, warm_up=False) for name in (STOCK, WRAPPER)
    }
    return times, labels


STOCK = "stock raw forward (NCHW fp32)"
WRAPPER = "wrapper fp32 (BN folded + channels_last)"


def summarize(size, times: dict, labels: dict) -> list[dict]:
    """Per variant: median and minimum time, both ratios to the stock forward, label agreement with it.

    The minimum is the round least disturbed by other work on a shared machine; the median is what a user
    waits typically. On a quiet machine the two agree.
    """
    base_median, base_min = median(times[STOCK]), min(times[STOCK])
    margin = labels["relative_margin"]
    entries = []
    for name, values in times.items():
        flipped = labels[name] != labels[STOCK]
        differing = int(flipped.sum())
        entries.append(
            {
                "size": list(size),
                "variant": name,
                "median_s": round(median(values), 4),
                "min_s": round(min(values), 4),
                "times_s": [round(v, 4) for v in values],
                "ratio_to_stock_raw": round(median(values) / base_median, 3),
                "ratio_of_minima": round(min(values) / base_min, 3),
                "label_agreement_with_stock": round(1 - differing / labels[STOCK].size, 7),
                "labels_differing": differing,
                # Largest stock top-1 - top-2 score gap (relative to the logits' range) among flipped pixels,
                # and the image's median gap for scale: a tiny first number means only ties flipped.
                "flipped_max_relative_margin": float(margin[flipped].max()) if differing else None,
                "median_relative_margin": float(np.median(margin)),
            }
        )
    return entries


def table_row(entry: dict) -> list[str]:
    agreement = f"{100 * entry['label_agreement_with_stock']:.4f}% ({entry['labels_differing']} px differ"
    if entry["labels_differing"]:
        agreement += f"; largest top-2 gap among them {entry['flipped_max_relative_margin']:.1e}"
    agreement += ")"
    return [
        "x".join(map(str, entry["size"])),
        entry["variant"],
        f"{entry['median_s']:.3f}",
        f"{entry['min_s']:.3f}",
        f"{entry['ratio_to_stock_raw']:.2f}",
        f"{entry['ratio_of_minima']:.2f}",
        agreement,
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2
    import torch

    from fashiondemo.images import load_rgb
    from fashiondemo.mmcv_compat import register_mmseg_modules

    register_mmseg_modules()  # mmseg's registries + LimitLongSide for the stock pipeline
    torch.set_num_threads(args.threads)
    record = start_record("ocrnet", __file__, argv)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or random_checkpoint(Path(tmp))
        weights = (
            "random (mmseg init, seed 0; BN calibrated on examples/, classifier biases spread)"
            if args.checkpoint is None
            else str(args.checkpoint)
        )
        sha = weights_digest(checkpoint)
        source = load_rgb(args.image)
        results, rows, bounds = [], [], []
        for size in args.sizes:
            height, width = (int(v) for v in size.lower().split("x"))
            rgb = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
            times, labels = bench_size(rgb, checkpoint, args.repeats, not args.skip_cityscapes)
            forward_gflop = labels.pop("gflop")
            split = labels.pop("time_split_ms")
            logit_error = labels.pop("fp32_logit_error")
            _, counts = np.unique(labels[STOCK], return_counts=True)
            bounds.append(
                {
                    "size": [height, width],
                    # How varied the reference label map is: agreement on a one-class map would mean nothing.
                    "stock_label_map": {
                        "classes": len(counts),
                        "top_class_share": round(counts.max() / counts.sum(), 3),
                    },
                    "fp32_max_relative_logit_error": logit_error,
                    "gflop": round(forward_gflop, 1),
                    "time_split_ms": split,
                }
            )
            for entry in summarize((height, width), times, labels):
                results.append(entry)
                rows.append(table_row(entry))
    wrapper = [r for r in results if r["variant"] == WRAPPER]
    # What bounds the fp32 wrapper: its FLOPs (nearly all convolutions) at this machine's best GEMM rate.
    peak = matmul_peak_gflops()
    for bound, entry in zip(bounds, wrapper, strict=True):
        bound["matmul_peak_gflops"] = round(peak, 1)
        bound["time_at_peak_s"] = round(bound["gflop"] / peak, 3)
        bound["wrapper_fp32_share_of_peak"] = round(bound["time_at_peak_s"] / entry["min_s"], 3)
    record.update(
        weights=weights,
        weights_sha256=sha,
        threads=args.threads,
        # OpenMP's wait policy decides how torch threads behave on a shared machine (spinning threads that
        # lose their core stall everyone); PASSIVE makes timings robust to other load, at some cost alone.
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        image=str(args.image.relative_to(REPO) if args.image.is_relative_to(REPO) else args.image),
        repeats=args.repeats,
        results=results,
        bounds=bounds,
        target={
            "wrapper_fp32_over_stock_raw_max": TARGET_RATIO,
            "met_by_medians": all(r["ratio_to_stock_raw"] <= TARGET_RATIO for r in wrapper),
            "met_by_minima": all(r["ratio_of_minima"] <= TARGET_RATIO for r in wrapper),
            "labels_identical_fp32": all(r["label_agreement_with_stock"] == 1.0 for r in wrapper),
            # A flip counts as a tie when the stock's top two scores were within 1e-3 of the logits' range:
            # twice the fp32 reassociation error tests/test_ocrnet.py allows (5e-4 of the range).
            "fp32_flips_only_at_ties": all(
                (r["flipped_max_relative_margin"] or 0.0) <= TIE_RELATIVE_MARGIN for r in wrapper
            ),
        },
    )
    finish_record(record, args.out)
    header = [
        "size",
        "variant",
        "median s",
        "min s",
        "x stock (medians)",
        "x stock (minima)",
        "labels = stock",
    ]
    print(markdown_table(header, rows))
    target = record["target"]
    print(
        f"\nwrapper fp32 / stock raw forward <= {TARGET_RATIO}: medians {verdict(target['met_by_medians'])}, "
        f"minima {verdict(target['met_by_minima'])}; "
        f"fp32 labels identical: {target['labels_identical_fp32']} "
        f"(flips only at ties: {target['fp32_flips_only_at_ties']}); weights: {weights}; "
        f"OMP_WAIT_POLICY={record['omp_wait_policy']}; "
        f"load average before/after {record['load_average_before_1_5_15min']} / "
        f"{record['load_average_after_1_5_15min']}"
    )
    for bound in bounds:
        print(
            f"{bound['size'][0]}x{bound['size'][1]}: {bound['gflop']} GFLOP, "
            f"{bound['time_at_peak_s']} s at the measured fp32 GEMM peak {bound['matmul_peak_gflops']} "
            f"GFLOP/s; the fastest fp32 wrapper round: {100 * bound['wrapper_fp32_share_of_peak']:.0f}% of it"
        )
        label_map = bound["stock_label_map"]
        print(
            f"  the stock label map has {label_map['classes']} classes, the largest covering "
            f"{100 * label_map['top_class_share']:.0f}% of the pixels; the fp32 wrapper's scores differ "
            f"from the stock's by at most {bound['fp32_max_relative_logit_error']:.1e} of their range"
        )
        for name, split in bound["time_split_ms"].items():
            print(
                f"  {name}: GEMM/conv {split['gemm_ms']:.0f} ms, resize {split['resize_ms']:.0f} ms, "
                f"other ops {split['other_ms']:.0f} ms (profiled wall {split['profiled_wall_ms']:.0f} ms)"
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
