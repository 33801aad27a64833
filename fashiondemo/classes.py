"""The 47 semantic labels shared by every part of the project (pure; numpy only).

Label 0 is background, label k in 1..46 is Fashionpedia category_id k-1, 255 is ignore (never predicted and
excluded from metrics). Names are spelled exactly as in Fashionpedia's ``instances_attributes_*2020.json``.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 47
BACKGROUND = 0
IGNORE_INDEX = 255

# Fashionpedia category id -> (name, supercategory), in id order 0..45.
FASHIONPEDIA_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("shirt, blouse", "upperbody"),
    ("top, t-shirt, sweatshirt", "upperbody"),
    ("sweater", "upperbody"),
    ("cardigan", "upperbody"),
    ("jacket", "upperbody"),
    ("vest", "upperbody"),
    ("pants", "lowerbody"),
    ("shorts", "lowerbody"),
    ("skirt", "lowerbody"),
    ("coat", "wholebody"),
    ("dress", "wholebody"),
    ("jumpsuit", "wholebody"),
    ("cape", "wholebody"),
    ("glasses", "head"),
    ("hat", "head"),
    ("headband, head covering, hair accessory", "head"),
    ("tie", "neck"),
    ("glove", "arms and hands"),
    ("watch", "arms and hands"),
    ("belt", "waist"),
    ("leg warmer", "legs and feet"),
    ("tights, stockings", "legs and feet"),
    ("sock", "legs and feet"),
    ("shoe", "legs and feet"),
    ("bag, wallet", "others"),
    ("scarf", "others"),
    ("umbrella", "others"),
    ("hood", "garment parts"),
    ("collar", "garment parts"),
    ("lapel", "garment parts"),
    ("epaulette", "garment parts"),
    ("sleeve", "garment parts"),
    ("pocket", "garment parts"),
    ("neckline", "garment parts"),
    ("buckle", "closures"),
    ("zipper", "closures"),
    ("applique", "decorations"),
    ("bead", "decorations"),
    ("bow", "decorations"),
    ("flower", "decorations"),
    ("fringe", "decorations"),
    ("ribbon", "decorations"),
    ("rivet", "decorations"),
    ("ruffle", "decorations"),
    ("sequin", "decorations"),
    ("tassel", "decorations"),
)
NUM_CATEGORIES = len(FASHIONPEDIA_CATEGORIES)  # 46

CATEGORY_NAMES: tuple[str, ...] = tuple(name for name, _ in FASHIONPEDIA_CATEGORIES)
SUPERCATEGORY_OF: dict[str, str] = dict(FASHIONPEDIA_CATEGORIES)
# Label index -> name; index 0 is background.
CLASS_NAMES: tuple[str, ...] = ("background", *CATEGORY_NAMES)

# Category ids 0-26 are whole garments and accessories, 27-45 garment parts, closures and decorations.
# Parts overlap garments, so the semantic map paints garments first and parts on top (see fashionpedia.py).
LAST_GARMENT_CATEGORY_ID = 26
GARMENT_CATEGORY_IDS = tuple(range(0, LAST_GARMENT_CATEGORY_ID + 1))
PART_CATEGORY_IDS = tuple(range(LAST_GARMENT_CATEGORY_ID + 1, NUM_CATEGORIES))

# Coarser groups for legends and analysis: supercategory -> label indices.
SUPERCATEGORY_LABELS: dict[str, tuple[int, ...]] = {}
for _cat_id, (_name, _super) in enumerate(FASHIONPEDIA_CATEGORIES):
    SUPERCATEGORY_LABELS.setdefault(_super, ())
    SUPERCATEGORY_LABELS[_super] += (_cat_id + 1,)

# RGB colours, one per label. Background is black, so it stays neutral in overlays (which do not tint it).
# The 46 class colours were picked by greedy farthest-point sampling in CIELAB over a 12-level sRGB grid,
# skipping near-grey colours; tests/test_classes.py checks that every pair stays >= 25 Delta-E76 apart.
# fmt: off
PALETTE: np.ndarray = np.array(
    [
        (0, 0, 0),
        (0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 46, 185), (255, 208, 0), (0, 255, 208),
        (0, 92, 208), (23, 115, 0), (139, 0, 46), (139, 92, 0), (255, 185, 255), (231, 231, 162),
        (0, 185, 255), (115, 23, 115), (231, 0, 255), (255, 162, 139), (162, 255, 115), (255, 139, 23),
        (0, 69, 115), (255, 0, 92), (92, 23, 185), (0, 139, 115), (139, 231, 231), (208, 115, 255),
        (46, 69, 23), (255, 115, 162), (162, 185, 0), (139, 115, 185), (208, 69, 46), (0, 185, 0),
        (162, 92, 115), (115, 185, 115), (139, 139, 69), (23, 139, 162), (162, 255, 0), (115, 69, 46),
        (255, 185, 92), (0, 208, 115), (185, 208, 255), (185, 23, 115), (185, 0, 185), (23, 92, 255),
        (0, 255, 115), (231, 115, 208), (231, 162, 185), (115, 162, 255),
    ],
    dtype=np.uint8,
)
# fmt: on
PALETTE.setflags(write=False)


def label_of_category(category_id: int) -> int:
    """Semantic label of a Fashionpedia category id (0..45 -> 1..46)."""
    if not 0 <= category_id < NUM_CATEGORIES:
        raise ValueError(f"Fashionpedia category ids are 0..{NUM_CATEGORIES - 1}, got {category_id}")
    return category_id + 1


def category_of_label(label: int) -> int:
    """Fashionpedia category id of a semantic label (1..46 -> 0..45); background has none."""
    if not 1 <= label < NUM_CLASSES:
        raise ValueError(f"labels with a Fashionpedia category are 1..{NUM_CLASSES - 1}, got {label}")
    return label - 1


def is_part_category(category_id: int) -> bool:
    """True for garment parts, closures and decorations (painted on top of whole garments)."""
    return category_id > LAST_GARMENT_CATEGORY_ID


def dataset_meta() -> dict:
    """``classes`` and ``palette`` in the form mmseg's dataset_meta and checkpoints carry."""
    return {"classes": CLASS_NAMES, "palette": [list(map(int, c)) for c in PALETTE]}
