"""OcrnetSegmenter: same labels as mmseg's own inference, input size kept, never upsized, safe errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from fashiondemo.dataset import limited_size
from fashiondemo.model_configs import TINY_CONFIG, load_config
from fashiondemo.ocrnet import (
    MissingCheckpointError,
    OcrnetSegmenter,
    calibrate_random_network,
    init_random_weights,
)

pytestmark = pytest.mark.slow
TEST_MAX_SIDE = 128  # the tiny config's LimitLongSide


@pytest.fixture(scope="module", autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _random_model():
    """The tiny config's network with mmseg's random init and BN statistics calibrated on a few images, so
    activations and logits have the magnitudes of a real model (an uncalibrated init compounds to ~1e7)."""
    from mmseg.registry import MODELS

    from fashiondemo.mmcv_compat import register_mmseg_modules

    register_mmseg_modules()
    cfg = load_config(TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):  # some layers take values at construction: seed those too
        torch.manual_seed(1)
        model = MODELS.build(cfg.model)
    init_random_weights(model, seed=1)
    batch = torch.stack([_normalised(_image(96, 96, seed=100 + i)) for i in range(4)])
    calibrate_random_network(model, batch, seed=1)
    return cfg, model


def _normalised(rgb: np.ndarray) -> torch.Tensor:
    """(3, H, W) float32 as mmseg's SegDataPreProcessor makes it from an RGB image."""
    mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    return (torch.from_numpy(rgb).permute(2, 0, 1).float() - mean) / std


@pytest.fixture(scope="module")
def deployable(tmp_path_factory):
    """A training-style checkpoint of the random model, turned into a deployable one by fashiondemo.export."""
    from fashiondemo.classes import dataset_meta
    from fashiondemo.export import export

    cfg, model = _random_model()
    folder = tmp_path_factory.mktemp("ocrnet")
    training = folder / "iter_7.pth"
    meta = {"cfg": cfg.pretty_text, "experiment_name": f"{TINY_CONFIG}_20260101_000000", "iter": 7}
    torch.save({"state_dict": model.state_dict(), "meta": {**meta, "dataset_meta": dataset_meta()}}, training)
    out = folder / "model.pth"
    export(training, out)
    return out


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs (not white noise), so neighbouring pixels agree like in a photo."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def stock_model(deployable):
    """mmseg's own model object, built and loaded the stock way (init_model), NCHW fp32."""
    from mmseg.apis import init_model

    return init_model(load_config(TINY_CONFIG), str(deployable), device="cpu")


@pytest.fixture(scope="module")
def stock_layout(deployable):
    """The wrapper with mmseg's stock layout and separate BatchNorm: must match mmseg bit for bit."""
    return OcrnetSegmenter(deployable, device="cpu", channels_last=False, fuse_bn=False).load()


@pytest.fixture(scope="module")
def fast(deployable):
    """The wrapper as the app uses it (BN folded, channels_last, fp32)."""
    return OcrnetSegmenter(deployable, device="cpu").load()


@pytest.mark.parametrize("shape", [(200, 150), (90, 70)], ids=["shrunk", "native"])
def test_labels_equal_mmseg_inference_model(stock_layout, stock_model, shape):
    from mmseg.apis import inference_model

    rgb = _image(*shape)
    labels = stock_layout.predict(rgb)
    # mmseg's stock path: its test pipeline (LoadImageFromNDArray expects BGR), preprocessor, postprocess.
    reference = inference_model(stock_model, np.ascontiguousarray(rgb[..., ::-1]))
    assert labels.shape == shape and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, reference.pred_sem_seg.data[0].numpy())
    # Same scores bit for bit: resize, normalisation and the logits' resize back all match mmseg's.
    assert torch.equal(stock_layout.logits(rgb), reference.seg_logits.data)


def test_labels_equal_raw_model_argmax_at_input_size(stock_layout, fast, stock_model):
    """Raw model: stock NCHW fp32 encode_decode on the normalised image, argmax, no pipeline at all."""
    rgb = _image(96, 120, seed=3)
    metas = [{"img_shape": (96, 120), "ori_shape": (96, 120), "pad_shape": (96, 120)}]
    with torch.no_grad():
        raw_logits = stock_model.encode_decode(_normalised(rgb)[None], metas)[0]
    raw = raw_logits.argmax(0).byte().numpy()

    np.testing.assert_array_equal(stock_layout.predict(rgb), raw)
    assert torch.equal(stock_layout.logits(rgb), raw_logits)
    # The default fast path does the same fp32 maths with other rounding (BN folded, another summation order):
    # over ~100 layers that reassociation error reaches ~1e-4 of the logits' range (1.2e-4 for this seeded
    # model), so allow 5e-4 of it; a wrong fold (a missing BN, a bad scale) is off by whole units.
    scale = raw_logits.abs().max().item()
    torch.testing.assert_close(fast.logits(rgb), raw_logits, rtol=1e-4, atol=5e-4 * scale)
    differing = fast.predict(rgb) != raw
    assert differing.mean() <= 0.001
    # Only near-ties may flip: where the labels differ, the raw top two scores are within that rounding.
    top_two = raw_logits.topk(2, dim=0).values
    margin = (top_two[0] - top_two[1]).numpy()
    assert (margin[differing] <= 2 * 5e-4 * scale).all()


def test_never_upsizes_and_shrinks_to_infer_size(fast, monkeypatch):
    assert fast.infer_size == TEST_MAX_SIDE  # from the checkpoint's test pipeline
    seen = []
    original = fast._model.encode_decode

    def spy(inputs, metas):
        seen.append(tuple(inputs.shape[2:]))
        return original(inputs, metas)

    monkeypatch.setattr(fast._model, "encode_decode", spy)
    for shape in [(40, 30), (300, 200), (1, 1), (2000, 20)]:
        labels = fast.predict(_image(*shape))
        assert labels.shape == shape
        assert seen[-1] == limited_size(*shape, TEST_MAX_SIDE)
        assert max(seen[-1]) <= TEST_MAX_SIDE
    assert seen[0] == (40, 30)  # small images go in at their own size


def test_predict_proba(fast):
    rgb = _image(64, 80, seed=5)
    labels, probs = fast.predict_proba(rgb)
    assert probs.shape == (47, 64, 80) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=0), labels)


def test_bf16_runs_the_network_in_bf16(deployable):
    # Its label agreement depends on the trained weights: bench/bench_ocrnet.py measures it per checkpoint.
    seg = OcrnetSegmenter(deployable, device="cpu", precision="bf16").load()
    dtypes = []
    hook = seg._model.backbone.conv1.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    labels, probs = seg.predict_proba(_image(64, 48, seed=7))
    hook.remove()
    assert dtypes == [torch.bfloat16]
    assert labels.shape == (64, 48) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-4)


def test_concurrent_calls_match_sequential(fast):
    seg = fast
    images = [_image(80, 60, seed=s) for s in range(4)]
    expected = [seg.predict(img) for img in images]
    results = [None] * len(images)

    def work(i):
        results[i] = seg.predict(images[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_random_weights_need_no_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONDEMO_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.delenv("FASHIONDEMO_OCRNET_CHECKPOINT", raising=False)
    seg = OcrnetSegmenter(random_weights=True, device="cpu", infer_size=64)
    assert seg.random_weights and "random weights" in repr(seg)
    labels = seg.predict(_image(50, 70))
    assert labels.shape == (50, 70) and labels.max() < 47
    assert seg.checkpoint_path is None


def test_missing_checkpoint_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONDEMO_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.delenv("FASHIONDEMO_OCRNET_CHECKPOINT", raising=False)
    seg = OcrnetSegmenter(device="cpu")
    with pytest.raises(MissingCheckpointError) as info:
        seg.predict(_image(10, 10))
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "ocrnet_hr18_fashionpedia.pth") in message
    assert "python -m fashiondemo.train" in message and "python -m fashiondemo.export" in message
    assert "FASHIONDEMO_OCRNET_CHECKPOINT" in message and "--ocrnet-checkpoint" in message
    with pytest.raises(MissingCheckpointError, match=str(tmp_path / "elsewhere.pth")):
        OcrnetSegmenter(tmp_path / "elsewhere.pth").load()


def test_env_variable_names_the_checkpoint(deployable, monkeypatch):
    monkeypatch.setenv("FASHIONDEMO_OCRNET_CHECKPOINT", str(deployable))
    seg = OcrnetSegmenter(device="cpu").load()
    assert seg.checkpoint_path == deployable and seg.meta["iteration"] == 7


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((8, 8, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
    ],
)
def test_bad_input_is_refused_before_loading(array, error):
    seg = OcrnetSegmenter(random_weights=True, device="cpu")
    with pytest.raises(ValueError, match=error):
        seg.predict(array)
    assert not seg.is_loaded
    with pytest.raises(TypeError, match="numpy array"):
        seg.predict([[1, 2, 3]])


def test_random_weights_are_the_same_every_build():
    # Layers initialised at construction (conv_seg, ...) must be seeded too, or review/bench figures drift.
    rgb = np.random.default_rng(5).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    first = OcrnetSegmenter(random_weights=True, infer_size=96).predict(rgb)
    second = OcrnetSegmenter(random_weights=True, infer_size=96).predict(rgb)
    assert np.array_equal(first, second)
