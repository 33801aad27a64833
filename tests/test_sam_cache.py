"""The SAM embedding cache: content keys, LRU bounds in entries and bytes, thread safety, and its use by
SamSegmenter (bounded memory, re-encoding after eviction)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from fashiondemo.sam import TEST_VARIANT, SamSegmenter
from fashiondemo.sam_cache import CachedEmbedding, EmbeddingCache, image_key

MIB = 1 << 20


def entry(mib: float = 1.0) -> CachedEmbedding:
    return CachedEmbedding(torch.zeros(int(mib * MIB) // 4, dtype=torch.float32), (10, 20), (512, 1024))


def test_image_key_follows_content_not_identity():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert image_key(img) == image_key(img.copy())
    assert image_key(img) == image_key(np.asfortranarray(img))  # memory layout does not matter
    changed = img.copy()
    changed[39, 59, 2] ^= 1
    assert image_key(changed) != image_key(img)
    # same bytes, other shape: a different image
    assert image_key(img.reshape(60, 40, 3)) != image_key(img)


def test_lru_evicts_least_recently_used_by_entry_count():
    cache = EmbeddingCache(max_entries=2, max_bytes=100 * MIB)
    cache.put("a", entry())
    cache.put("b", entry())
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", entry())
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.info()["evictions"] == 1


def test_byte_bound_holds_and_oversized_entries_are_not_stored():
    cache = EmbeddingCache(max_entries=100, max_bytes=int(2.5 * MIB))
    for key in "abcd":
        cache.put(key, entry(1))
    assert len(cache) == 2 and cache.nbytes == 2 * MIB
    assert list(k for k in "abcd" if k in cache) == ["c", "d"]
    cache.put("huge", entry(3))
    assert "huge" not in cache and len(cache) == 2


def test_replacing_a_key_keeps_byte_count_right():
    cache = EmbeddingCache(max_entries=4, max_bytes=10 * MIB)
    cache.put("a", entry(1))
    cache.put("a", entry(2))
    assert len(cache) == 1 and cache.nbytes == 2 * MIB


def test_bounds_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        EmbeddingCache(max_entries=0)


def test_concurrent_puts_and_gets_keep_the_books_straight():
    cache = EmbeddingCache(max_entries=5, max_bytes=1000 * MIB)
    small = CachedEmbedding(torch.zeros(256), (1, 1), (1, 1))

    def worker(offset: int) -> None:
        for i in range(300):
            cache.put(f"{offset}-{i % 7}", small)
            cache.get(f"{offset}-{(i * 3) % 7}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = cache.info()
    assert info["entries"] == 5 and info["bytes"] == 5 * small.nbytes
    assert info["hits"] + info["misses"] == 4 * 300


def test_segmenter_cache_stays_bounded_and_reencodes_after_eviction():
    seg = SamSegmenter(TEST_VARIANT, random_weights=True, precision="fp32", threads=2, cache_entries=2)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    for img in images:
        seg.precompute(img)
    assert len(seg.cache) == 2 and seg.encoder_calls == 3
    # one vit-style embedding: 1 x 256 x 64 x 64 float32 = 4 MiB, whatever the image size
    assert seg.cache.nbytes == 2 * 256 * 64 * 64 * 4
    first = seg.predict(images[0], points=[[5, 5]])  # evicted earlier: encoded again, same answer
    assert not first.embedding_cached and seg.encoder_calls == 4
    assert seg.predict(images[0], points=[[5, 5]]).embedding_cached
    assert np.array_equal(first.masks, seg.predict(images[0], points=[[5, 5]]).masks)
