"""The fast path's attention for SAM's image encoder: segment_anything's maths, a block of queries at a time.

SAM's global-attention blocks (4 of 12 in vit_b) build a 12 x 4096 x 4096 score matrix per image, add the
decomposed relative positions to it in two passes, softmax it (in fp32 under autocast) and multiply by V:
each pass streams 0.4-0.8 GB through memory, which on a 2-core CPU took 2.6 s of the 6 s bf16 embedding
(bench/bench_sam.py's bounds). Doing the same operations for ``rows`` queries at a time keeps each block's
scores small enough to stay in cache; every score row depends only on its own query, so the result is the
same numbers, bit for bit, in bf16 (tests/test_sam_attention.py compares with the stock forward).

Installed per model instance (``install``), only for the reduced-precision path: the fp32 path stays
segment_anything's code untouched, so it is identical to ``SamPredictor`` by construction.
"""

from __future__ import annotations

import types

import torch
from segment_anything.modeling.image_encoder import Attention, get_rel_pos

DEFAULT_ROWS = 256  # 12 heads x 256 x 4096 fp32 scores = 50 MB per block, against 805 MB all at once


def install(image_encoder: torch.nn.Module, rows: int = DEFAULT_ROWS) -> int:
    """Make every Attention of `image_encoder` compute `rows` queries at a time; returns how many changed.

    Windowed blocks (196 tokens) are already small and keep the stock forward (see `blockwise_forward`).
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    changed = 0
    for module in image_encoder.modules():
        if isinstance(module, Attention):
            module.forward = types.MethodType(blockwise_forward, module)
            module.attention_rows = rows
            changed += 1
    return changed


def blockwise_forward(self: Attention, x: torch.Tensor) -> torch.Tensor:
    """segment_anything's ``Attention.forward``, scores made ``self.attention_rows`` rows at a time."""
    batch, height, width, _ = x.shape
    tokens = height * width
    rows = self.attention_rows
    if tokens <= rows:
        return Attention.forward(self, x)
    # As the stock forward: qkv (3, B * heads, tokens, head_dim).
    qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, batch * self.num_heads, tokens, -1).unbind(0)
    # Contiguous once (exact copies, a few MB): sliced per block, strided operands would be copied again by
    # every block's matmul and slow every broadcast add.
    scaled_q, keys_t, v = (q * self.scale).contiguous(), k.transpose(-2, -1).contiguous(), v.contiguous()
    if self.use_rel_pos:
        # The stock add_decomposed_rel_pos terms, for all queries at once (small: tokens x 64 per head).
        rel_h_table = get_rel_pos(height, height, self.rel_pos_h)
        rel_w_table = get_rel_pos(width, width, self.rel_pos_w)
        r_q = q.reshape(batch * self.num_heads, height, width, -1)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rel_h_table).reshape(-1, tokens, height).contiguous()
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rel_w_table).reshape(-1, tokens, width).contiguous()
    out = None
    for start in range(0, tokens, rows):
        stop = min(start + rows, tokens)
        scores = scaled_q[:, start:stop] @ keys_t
        if self.use_rel_pos:
            # Same two additions, in the same order, as the stock (attn + rel_h) + rel_w; in place, because
            # the block is ours (no allocation and first-touch page faults per block).
            grid = scores.view(-1, stop - start, height, width)
            grid += rel_h[:, start:stop, :, None]
            grid += rel_w[:, start:stop, None, :]
        block = scores.softmax(dim=-1) @ v
        if out is None:  # dtype as autocast makes it (bf16 under bf16 autocast)
            out = torch.empty(q.shape[0], tokens, block.shape[-1], dtype=block.dtype, device=block.device)
        out[:, start:stop] = block
    x = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
    return self.proj(x.reshape(batch, height, width, -1))
