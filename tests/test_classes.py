import cv2
import numpy as np
import pytest

from fashiondemo import classes


def test_counts_and_ids():
    assert classes.NUM_CLASSES == len(classes.CLASS_NAMES) == 47
    assert classes.CLASS_NAMES[0] == "background"
    assert len(set(classes.CLASS_NAMES)) == 47
    assert classes.label_of_category(0) == 1 and classes.label_of_category(45) == 46
    assert classes.category_of_label(46) == 45
    assert classes.PALETTE.shape == (47, 3)


def test_names_match_seed_table(seed_table_rows):
    # The report's Table 2 spells the classes as Fashionpedia does; both must agree label by label.
    assert [r["class"] for r in seed_table_rows] == list(classes.CLASS_NAMES)


def test_garments_before_parts():
    assert classes.CATEGORY_NAMES[26] == "umbrella" and classes.CATEGORY_NAMES[27] == "hood"
    assert not classes.is_part_category(26) and classes.is_part_category(27)
    assert set(classes.GARMENT_CATEGORY_IDS) | set(classes.PART_CATEGORY_IDS) == set(range(46))


def test_supercategories_cover_every_class_once():
    labels = sorted(lab for labs in classes.SUPERCATEGORY_LABELS.values() for lab in labs)
    assert labels == list(range(1, 47))


def test_palette_is_distinct_and_background_neutral():
    lab = cv2.cvtColor(classes.PALETTE.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(float)
    lab[:, 0] *= 100 / 255
    lab[:, 1:] -= 128
    assert abs(lab[0, 1]) < 1 and abs(lab[0, 2]) < 1  # no chroma
    dist = np.linalg.norm(lab[1:, None] - lab[None, 1:], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert dist.min() >= 25


def test_out_of_range_ids_are_refused():

    with pytest.raises(ValueError, match=r"0\.\.45"):
        classes.label_of_category(46)
    with pytest.raises(ValueError):
        classes.category_of_label(0)
