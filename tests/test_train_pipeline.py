"""End to end from the command line on the synthetic set: train (stopped, resumed) -> export -> evaluate.

Also: the report config starts from a (fake, 21-class) VOC12Aug checkpoint found in the checkpoint folder,
with both heads' classifiers left freshly initialised for 47 classes; and the CLI's refusals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashiondemo.classes import CLASS_NAMES
from fashiondemo.model_configs import REPORT_CONFIG, TINY_CONFIG

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
STOP_AT = 60  # the first run stops here; the resumed run finishes the tiny config's 100 iterations
VOC_NAME = "ocrnet_hr18_512x512_20k_voc12aug_20200617_233932-8954cbb7.pth"


def _cli(module: str, *args, env: dict | None = None, timeout: int = 1800) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "FASHIONDEMO_TORCH_THREADS": "2",
        "FASHIONDEMO_AUTO_DOWNLOAD": "0",
        # OpenMP threads that sleep instead of spinning while they wait: on the shared 2-core machine, with
        # other jobs running, spinning made each tiny training step 12-35 s instead of 1.7-2.4 s.
        "OMP_WAIT_POLICY": "PASSIVE",
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", f"fashiondemo.{module}", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=timeout,
    )
    return result


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    return result


def _scalars(work_dir: Path) -> list[dict]:
    """Every logged record of every run in the work dir (mmengine's vis_data/scalars.json), in run order."""
    records = []
    for path in sorted(work_dir.glob("*/vis_data/scalars.json")):
        records.append([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    return records


@pytest.fixture(scope="module")
def trained(prepared_dataset, tmp_path_factory):
    """Tiny config: a run stopped at STOP_AT iterations, then `--resume`d to the config's 100."""
    work = tmp_path_factory.mktemp("work")
    common = [TINY_CONFIG, "--data-root", prepared_dataset, "--work-dir", work]
    first = _ok(_cli("train", *common, "--cfg-options", f"train_cfg.max_iters={STOP_AT}"))
    second = _ok(_cli("train", *common, "--resume"))
    return work, first, second


def test_loss_drops(trained):
    work, _, _ = trained
    train_logs = [r for run in _scalars(work) for r in run if "loss" in r]
    assert [r["iter"] for r in train_logs] == list(range(5, 101, 5))
    start = sum(r["loss"] for r in train_logs[:2]) / 2
    end = sum(r["loss"] for r in train_logs[-2:]) / 2
    assert end < 0.7 * start, f"loss {start:.3f} -> {end:.3f}"


def test_resume_continues_from_the_last_checkpoint(trained):
    work, _, second = trained
    assert f"resumed epoch: 0, iter: {STOP_AT}" in second.stdout + second.stderr
    first_run, second_run = _scalars(work)
    first_train = [r for r in first_run if "loss" in r]
    second_train = [r for r in second_run if "loss" in r]
    assert first_train[-1]["iter"] == STOP_AT
    assert second_train[0]["iter"] == STOP_AT + 5 and second_train[-1]["iter"] == 100
    # The poly schedule carries on where it stopped instead of restarting at the base lr.
    assert second_train[0]["lr"] < first_train[-1]["lr"] < 0.01
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_100.pth")
    assert "done: last checkpoint" in second.stdout


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    work, _, _ = trained
    out = tmp_path_factory.mktemp("export") / "ocrnet.pth"
    result = _ok(_cli("export", work, out))
    return work, out, result


def test_export_is_weights_only_and_small(exported):
    work, out, result = exported
    checkpoint = torch.load(out, weights_only=True)
    meta = checkpoint["meta"]
    assert (
        tuple(meta["dataset_meta"]["classes"]) == CLASS_NAMES and len(meta["dataset_meta"]["palette"]) == 47
    )
    assert meta["config_name"] == TINY_CONFIG and meta["iteration"] == 100
    assert meta["source_file"] == "iter_100.pth" and len(meta["source_sha256"]) == 64
    assert set(checkpoint) == {"state_dict", "meta"}
    assert all(t.dtype in (torch.float32, torch.int64) for t in checkpoint["state_dict"].values())
    assert out.stat().st_size < 0.6 * (work / "iter_100.pth").stat().st_size
    assert "wrote" in result.stdout


def test_evaluate_writes_table2_for_all_classes(exported, prepared_dataset, tmp_path):
    work, model, _ = exported
    out, predictions = tmp_path / "eval", tmp_path / "pred"
    args = ["--checkpoint", model, "--data", prepared_dataset, "--out", out, "--compare-seed"]
    result = _ok(_cli("evaluate", *args, "--save-predictions", predictions))
    assert "aAcc" in result.stdout and "evaluate" in result.stderr  # summary line, tqdm bar
    doc = json.loads((out / "table2.json").read_text())
    assert [row["class"] for row in doc["per_class"]] == list(CLASS_NAMES)
    assert set(doc["summary"]) == {"aAcc", "mIoU", "mAcc"}
    assert doc["metadata"]["n_images"] == 4 and doc["metadata"]["random_weights"] is False
    markdown = (out / "table2.md").read_text()
    assert all(f"| {name} |" in markdown for name in CLASS_NAMES)
    assert "| aAcc | mIoU | mAcc |" in markdown
    assert (out / "per_class_iou.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "IoU seed" in (out / "table2_vs_seed.md").read_text()

    # mmseg's own IoUMetric scored the same model on the same split at the end of training (its pipeline
    # decodes JPEGs with cv2, ours with Pillow, so allow a hair of difference).
    final_val = [r for run in _scalars(work) for r in run if "mIoU" in r][-1]
    assert doc["summary"]["aAcc"] == pytest.approx(final_val["aAcc"], abs=0.5)
    assert doc["summary"]["mIoU"] == pytest.approx(final_val["mIoU"], abs=0.5)

    # Scoring the saved prediction PNGs gives the same table.
    again = tmp_path / "again"
    _ok(_cli("evaluate", "--predictions", predictions, "--data", prepared_dataset, "--out", again))
    assert (again / "table2.csv").read_text() == (out / "table2.csv").read_text()


def _fake_voc_checkpoint(path: Path) -> dict:
    """An mmseg-0.x-style VOC12Aug OCRNet checkpoint: same network with 21-class heads, random weights."""
    from mmseg.registry import MODELS

    from fashiondemo.mmcv_compat import register_mmseg_modules
    from fashiondemo.model_configs import load_config
    from fashiondemo.ocrnet import init_random_weights

    register_mmseg_modules()
    cfg = load_config(REPORT_CONFIG)
    for head in cfg.model.decode_head:
        head.num_classes = 21
    model = MODELS.build(cfg.model)
    init_random_weights(model, seed=21)
    state_dict = model.state_dict()
    meta = {"CLASSES": tuple(f"voc{i}" for i in range(21)), "PALETTE": [[i, i, i] for i in range(21)]}
    torch.save({"meta": meta, "state_dict": state_dict}, path)
    return state_dict


def test_report_config_starts_from_voc_checkpoint(prepared_dataset, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    voc = _fake_voc_checkpoint(checkpoints / VOC_NAME)
    work = tmp_path / "work"
    # The report's own config, shrunk to one step with lr 0 so the saved weights are the loaded ones.
    overrides = [
        "train_cfg.max_iters=1",
        "train_dataloader.batch_size=2",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "optim_wrapper.optimizer.lr=0",
        "param_scheduler.0.eta_min=0",
    ]
    args = [REPORT_CONFIG, "--data-root", prepared_dataset, "--work-dir", work, "--cfg-options", *overrides]
    result = _ok(_cli("train", *args, env={"FASHIONDEMO_CHECKPOINT_DIR": str(checkpoints)}))
    log = result.stdout + result.stderr
    assert f"Load checkpoint from {checkpoints / VOC_NAME}" in log
    for head in (0, 1):
        assert f"size mismatch for decode_head.{head}.conv_seg.weight" in log
    trained = torch.load(work / "iter_1.pth", weights_only=False)["state_dict"]  # our own fresh file
    mismatched = {k for k in voc if k.endswith(("conv_seg.weight", "conv_seg.bias"))}
    assert len(mismatched) == 4
    for key, value in voc.items():
        if key in mismatched:
            assert trained[key].shape[0] == 47  # re-initialised for Fashionpedia
        elif "running_" not in key and "num_batches" not in key:  # BN statistics move even at lr 0
            assert torch.equal(trained[key], value), key


def test_missing_start_checkpoint_says_how_to_get_it(prepared_dataset, tmp_path):
    result = _cli(
        "train", REPORT_CONFIG, "--data-root", prepared_dataset, "--work-dir", tmp_path / "w",
        env={"FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"the start checkpoint {VOC_NAME} is missing" in result.stderr
    assert "python -m fashiondemo.download ocrnet-voc12aug" in result.stderr
    assert not (tmp_path / VOC_NAME).exists()  # nothing was downloaded


def test_cli_refusals(prepared_dataset, tmp_path):
    from fashiondemo.train import main

    assert main([TINY_CONFIG, "--data-root", str(tmp_path / "nowhere"), "--work-dir", str(tmp_path)]) == 2
    args = [TINY_CONFIG, "--data-root", str(prepared_dataset), "--work-dir", str(tmp_path / "empty")]
    assert main([*args, "--resume"]) == 2
    url = "load_from=https://example.com/x.pth"
    assert main([*args, "--cfg-options", url]) == 2
    assert main(["no_such_config", "--data-root", str(prepared_dataset)]) == 2


def test_cli_refusal_messages(prepared_dataset, tmp_path, capsys):
    from fashiondemo.train import main

    main([TINY_CONFIG, "--data-root", str(tmp_path / "nowhere")])
    assert "no prepared training images" in capsys.readouterr().err
    main([TINY_CONFIG, "--data-root", str(prepared_dataset), "--work-dir", str(tmp_path / "e"), "--resume"])
    assert "no checkpoint to resume from" in capsys.readouterr().err
    main(["no_such_config"])
    assert "packaged names" in capsys.readouterr().err


def test_report_config_is_the_reports_recipe():
    from fashiondemo.model_configs import load_config, test_max_side
    from fashiondemo.weights import REGISTRY

    cfg = load_config(REPORT_CONFIG)
    assert cfg.train_dataloader.batch_size == 8 and cfg.crop_size == (256, 256)
    assert cfg.model.data_preprocessor.size == (256, 256)
    steps = {step["type"]: step for step in cfg.train_pipeline}
    assert steps["RandomCrop"]["crop_size"] == (256, 256) and steps["RandomFlip"]["prob"] == 0.5
    assert cfg.optim_wrapper.optimizer == {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005}
    (poly,) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.end) == ("PolyLR", 0.9, 1e-4, 20000)
    assert cfg.train_cfg.max_iters == 20000 and cfg.train_cfg.val_interval == 2000
    assert cfg.default_hooks.checkpoint.interval == 2000 and cfg.default_hooks.checkpoint.max_keep_ckpts == 3
    assert cfg.val_evaluator.iou_metrics == ["mIoU"]
    assert [head.num_classes for head in cfg.model.decode_head] == [47, 47]
    assert Path(cfg.load_from).name == REGISTRY["ocrnet-voc12aug"].filename
    assert cfg.model.pretrained is None  # nothing downloads at build time
    # Never upsizes at test time, unlike mmseg's Cityscapes pipeline.
    assert [s["type"] for s in cfg.test_pipeline] == ["LoadImageFromFile", "LimitLongSide", "LoadAnnotations",
                                                      "PackSegInputs"]  # fmt: skip
    assert test_max_side(cfg) == 1024
    # Single process: SyncBN becomes BN everywhere; several processes keep SyncBN.
    assert "SyncBN" not in cfg.pretty_text
    assert load_config(REPORT_CONFIG, distributed=True).model.backbone.norm_cfg.type == "SyncBN"


def test_strong_and_tiny_variants():
    from fashiondemo.model_configs import STRONG_CONFIG, list_config_names, load_config

    assert set(list_config_names()) == {REPORT_CONFIG, STRONG_CONFIG, TINY_CONFIG}
    strong = load_config(STRONG_CONFIG)
    assert strong.crop_size == (512, 512) and strong.train_cfg.max_iters == 80000
    ocr = strong.model.decode_head[1]
    assert ocr.sampler.type == "OHEMPixelSampler"
    assert [loss.type for loss in ocr.loss_decode] == ["CrossEntropyLoss", "LovaszLoss"]
    assert strong.param_scheduler[0].end == 80000
    tiny = load_config(TINY_CONFIG)
    assert tiny.load_from is None and tiny.train_cfg.max_iters == 100 and tiny.crop_size == (96, 96)


def test_config_lookup():
    from fashiondemo.model_configs import CONFIG_DIR, get_config_path

    assert (
        get_config_path(TINY_CONFIG)
        == get_config_path(f"{TINY_CONFIG}.py")
        == CONFIG_DIR / f"{TINY_CONFIG}.py"
    )
    path = CONFIG_DIR / f"{REPORT_CONFIG}.py"
    assert get_config_path(str(path)) == path
    with pytest.raises(FileNotFoundError, match=REPORT_CONFIG):
        get_config_path("ocrnet_nope")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only refusal")
def test_multi_process_launcher_needs_gpus(prepared_dataset, tmp_path, capsys):
    from fashiondemo.train import main

    args = [
        TINY_CONFIG,
        "--data-root",
        str(prepared_dataset),
        "--work-dir",
        str(tmp_path),
        "--launcher",
        "pytorch",
    ]
    assert main(args) == 2
    assert "needs CUDA GPUs" in capsys.readouterr().err
    assert main([TINY_CONFIG, "--data-root", str(prepared_dataset), "--amp"]) == 2
    assert "--amp needs a CUDA GPU" in capsys.readouterr().err


def test_strong_variant_losses_train():
    """OHEM sampling + cross-entropy + Lovasz on the OCR head: one loss/backward on a small batch."""
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    from fashiondemo.mmcv_compat import register_mmseg_modules
    from fashiondemo.model_configs import STRONG_CONFIG, load_config

    register_mmseg_modules()
    model = MODELS.build(load_config(STRONG_CONFIG).model).train()
    samples = []
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        sample = SegDataSample(metainfo={"img_shape": (64, 64), "pad_shape": (64, 64)})
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 47, (1, 64, 64), generator=generator))
        samples.append(sample)
    losses = model.loss(torch.randn(2, 3, 64, 64, generator=generator), samples)
    assert {"decode_0.loss_ce", "decode_1.loss_ce", "decode_1.loss_lovasz"} <= set(losses)
    total = sum(value for key, value in losses.items() if "loss" in key)
    assert torch.isfinite(total)
    total.backward()
    assert model.decode_head[1].conv_seg.weight.grad.abs().sum() > 0
