"""The fast path's blockwise attention gives segment_anything's own Attention output, and only the fast path
uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything.modeling.image_encoder import Attention

from fashiondemo import sam_attention
from fashiondemo.sam import TEST_VARIANT, SamSegmenter


def _attention(rel_pos: bool, size=(20, 18), dim=64, heads=4) -> Attention:
    """A global-attention layer like SAM's (rel-pos tables filled with noise, not zeros, so they count)."""
    torch.manual_seed(0)
    layer = Attention(dim, num_heads=heads, use_rel_pos=rel_pos, input_size=size).eval()
    if rel_pos:
        with torch.no_grad():
            layer.rel_pos_h.normal_()
            layer.rel_pos_w.normal_()
    return layer


def _stock_and_blockwise(layer: Attention, x: torch.Tensor, rows: int, autocast: bool):
    blockwise = _attention(layer.use_rel_pos, size=x.shape[1:3])
    blockwise.load_state_dict(layer.state_dict())
    assert sam_attention.install(blockwise, rows=rows) == 1
    context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else torch.no_grad()
    with torch.no_grad(), context:
        return layer(x), blockwise(x)


@pytest.mark.parametrize("rows", [64, 100, 359], ids=["divides", "remainder", "one-short"])
@pytest.mark.parametrize("rel_pos", [True, False], ids=["rel-pos", "plain"])
def test_bf16_blockwise_is_the_stock_forward_bit_for_bit(rows, rel_pos):
    layer = _attention(rel_pos)
    x = torch.randn(2, 20, 18, 64)  # batch 2: the rows are per (image, head) and must not mix
    stock, blockwise = _stock_and_blockwise(layer, x, rows, autocast=True)
    assert stock.dtype == blockwise.dtype
    assert torch.equal(stock, blockwise)


def test_fp32_blockwise_matches_to_rounding():
    layer = _attention(True)
    x = torch.randn(1, 20, 18, 64)
    stock, blockwise = _stock_and_blockwise(layer, x, rows=64, autocast=False)
    torch.testing.assert_close(blockwise, stock, rtol=1e-5, atol=1e-5)


def test_a_wrong_block_would_show():
    """The comparison can fail: shifting the relative positions by one row changes the output."""
    layer = _attention(True)
    x = torch.randn(1, 20, 18, 64)
    with torch.no_grad():
        stock = layer(x)
        layer.rel_pos_h.copy_(torch.roll(layer.rel_pos_h, 1, dims=0))
        shifted = layer(x)
    assert not torch.allclose(stock, shifted, atol=1e-3)


def test_small_windows_keep_the_stock_forward():
    layer = _attention(True, size=(14, 14))
    sam_attention.install(layer, rows=256)
    x = torch.randn(3, 14, 14, 64)
    calls = []
    original = Attention.forward

    def spy(self, inputs):
        calls.append(inputs.shape)
        return original(self, inputs)

    Attention.forward = spy
    try:
        with torch.no_grad():
            layer(x)
    finally:
        Attention.forward = original
    assert calls == [x.shape]


def test_rows_must_be_positive():
    with pytest.raises(ValueError, match="rows must be >= 1"):
        sam_attention.install(_attention(False), rows=0)


def test_only_the_reduced_precision_path_is_blockwise():
    fp32 = SamSegmenter(TEST_VARIANT, random_weights=True, precision="fp32", threads=2).load()
    bf16 = SamSegmenter(TEST_VARIANT, random_weights=True, precision="bf16", threads=2).load()
    fp32_layers = [m for m in fp32.model.image_encoder.modules() if isinstance(m, Attention)]
    bf16_layers = [m for m in bf16.model.image_encoder.modules() if isinstance(m, Attention)]
    assert fp32_layers and all("forward" not in vars(m) for m in fp32_layers)  # segment_anything's code
    blockwise = sam_attention.blockwise_forward
    assert bf16_layers and all(vars(m)["forward"].__func__ is blockwise for m in bf16_layers)


@pytest.mark.slow
def test_vit_b_embedding_is_the_stock_bf16_embedding_bit_for_bit():
    """At the real size (12 heads x 4096 tokens, 16 blocks of 256 queries), not only on the small layers."""
    seg = SamSegmenter("vit_b", random_weights=True, precision="bf16", threads=2).load()
    rgb = np.random.default_rng(0).integers(0, 256, size=(300, 200, 3), dtype=np.uint8)
    blockwise = seg.cache.get(seg.precompute(rgb)).features.clone()
    for layer in seg.model.image_encoder.modules():
        if isinstance(layer, Attention):
            del layer.forward  # back to segment_anything's own method
    seg.cache.clear()
    stock = seg.cache.get(seg.precompute(rgb)).features
    assert torch.equal(blockwise, stock)
