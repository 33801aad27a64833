"""segment_anything's own SamPredictor, with its image state served from the embedding cache.

Only `set_image` changes: it looks the image up by content hash and restores the cached features instead of
running the encoder; on a miss it runs the stock `SamPredictor.set_image` (under the encoder's precision
context) and stores the result. Prediction is the stock code path. Because `SamAutomaticMaskGenerator` calls
`predictor.set_image` too, the everything mode reuses a cached embedding through the same door.

Imports torch and segment_anything: import this module lazily (fashiondemo.sam does).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from segment_anything import SamPredictor

from fashiondemo.sam_cache import CachedEmbedding, EmbeddingCache, image_key


class CachingPredictor(SamPredictor):
    """SamPredictor + EmbeddingCache. Not thread-safe on its own: callers hold one lock around
    set_image + predict, because the image state lives in this object between the two calls."""

    def __init__(self, model, cache: EmbeddingCache, encoder_context: Callable[[], object]):
        super().__init__(model)
        self.cache = cache
        self._encoder_context = encoder_context
        self.last_was_cached = False
        self.last_key: str | None = None
        # Called after every decoder batch (everything mode reports progress through it); None = off.
        self.on_decode: Callable[[], None] | None = None

    def set_image(self, image: np.ndarray, image_format: str = "RGB", *, key: str | None = None) -> None:
        """Make `image` (H, W, 3 uint8) the current image, from the cache when it holds it."""
        key = key or image_key(image if image_format == "RGB" else image[..., ::-1])
        entry = self.cache.get(key)
        if entry is None:
            with self._encoder_context():
                super().set_image(image, image_format)
            # Autocast leaves the encoder's neck in fp32 already; .float() makes that a guarantee, so the
            # fp32 decoder sees the same dtype whatever precision encoded the image.
            entry = CachedEmbedding(
                features=self.features.detach().float(),
                original_size=tuple(int(v) for v in self.original_size),
                input_size=tuple(int(v) for v in self.input_size),
            )
            self.cache.put(key, entry)
            self.last_was_cached = False
        else:
            self.last_was_cached = True
        self.restore(entry)
        self.last_key = key

    def restore(self, entry: CachedEmbedding) -> None:
        """Set the stock predictor's image state (features, sizes) from a cache entry."""
        self.reset_image()
        self.features = entry.features
        self.original_size = entry.original_size
        self.input_size = entry.input_size
        self.is_image_set = True

    @torch.no_grad()
    def predict_torch(self, *args, **kwargs):
        result = super().predict_torch(*args, **kwargs)
        if self.on_decode is not None:
            self.on_decode()
        return result
