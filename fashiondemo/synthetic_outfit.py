"""Random outfits for the synthetic dataset: the garments, parts and accessories a figure wears, as polygons.

Geometry is written in figure coordinates (u across, v down, both 0..1 over the figure's box) and mapped to
pixels at the end. Parts sit on their garment the way Fashionpedia annotates them: sleeves, collar, neckline,
lapels, zipper and pockets inside the garment's outline, a belt (with its buckle) across a dress or the waist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Fashionpedia category ids used below (names in fashiondemo.classes).
SHIRT, TOP, SWEATER, CARDIGAN, JACKET, VEST, PANTS, SHORTS, SKIRT, COAT, DRESS, JUMPSUIT, CAPE = range(13)
GLASSES, HAT, HEADBAND, TIE, GLOVE, WATCH, BELT, LEG_WARMER, TIGHTS, SOCK, SHOE, BAG, SCARF = range(13, 26)
UMBRELLA, HOOD, COLLAR, LAPEL, EPAULETTE, SLEEVE, POCKET, NECKLINE, BUCKLE, ZIPPER = range(26, 36)
APPLIQUE, BEAD, BOW, FLOWER, FRINGE, RIBBON, RIVET, RUFFLE, SEQUIN, TASSEL = range(36, 46)


@dataclass
class Piece:
    """One annotation to be: polygons in figure coordinates (each a list of (u, v) points)."""

    category_id: int
    polygons: list[list[tuple[float, float]]]
    iscrowd: bool = False
    attributes: list[str] = field(default_factory=list)  # attribute names, see synthetic.ATTRIBUTES


def mirror(polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(1.0 - u, v) for u, v in polygon]


def ellipse(cu: float, cv: float, ru: float, rv: float, points: int = 20) -> list[tuple[float, float]]:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return [(cu + ru * float(np.cos(a)), cv + rv * float(np.sin(a))) for a in angles]


def rect(u0: float, v0: float, u1: float, v1: float) -> list[tuple[float, float]]:
    return [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]


def _sleeves(end_v: float) -> tuple[list, list]:
    left = [(0.27, 0.15), (0.16, 0.17), (0.09, end_v), (0.18, end_v), (0.27, 0.27)]
    return left, mirror(left)


def _upper(rng: np.random.Generator, category: int, bottom: float) -> list[Piece]:
    torso = [(0.27, 0.15), (0.73, 0.15), (0.71, bottom), (0.29, bottom)]
    long_sleeves = rng.random() < 0.6
    has_sleeves = category != VEST
    fit = str(rng.choice(["tight (fit)", "regular (fit)", "loose (fit)"]))
    polygons = [torso]
    pieces = []
    if has_sleeves:
        left, right = _sleeves(0.52 if long_sleeves else 0.3)
        polygons += [left, right]
        length = "wrist-length" if long_sleeves else "short (length)"
        pieces += [Piece(SLEEVE, [left], attributes=[length]), Piece(SLEEVE, [right], attributes=[length])]
    pieces.insert(0, Piece(category, polygons, attributes=["symmetrical", fit]))
    if category in (SHIRT, JACKET, COAT):
        flap = [(0.41, 0.13), (0.5, 0.16), (0.44, 0.21)]
        pieces.append(Piece(COLLAR, [flap, mirror(flap)], attributes=["shirt (collar)"]))
    else:
        pieces.append(Piece(NECKLINE, [[(0.42, 0.15), (0.58, 0.15), (0.5, 0.22)]], attributes=["v-neck"]))
    if category in (JACKET, COAT):
        lapel = [(0.43, 0.21), (0.49, 0.23), (0.49, 0.36), (0.45, 0.31)]
        pieces.append(Piece(LAPEL, [lapel, mirror(lapel)]))
        pieces.append(Piece(POCKET, [rect(0.31, bottom - 0.13, 0.41, bottom - 0.06)]))
        if rng.random() < 0.3:
            pieces.append(Piece(EPAULETTE, [rect(0.25, 0.145, 0.33, 0.165)]))
    if category in (JACKET, CARDIGAN, TOP) and rng.random() < 0.5:
        pieces.append(Piece(ZIPPER, [rect(0.494, 0.22, 0.506, bottom)], attributes=["zip-up"]))
    if category in (TOP, SWEATER) and rng.random() < 0.15:
        pieces.append(Piece(HOOD, [[(0.36, 0.14), (0.38, 0.02), (0.5, -0.01), (0.62, 0.02), (0.64, 0.14)]]))
    if category == SHIRT and rng.random() < 0.4:
        pieces.append(Piece(TIE, [[(0.48, 0.17), (0.52, 0.17), (0.54, 0.4), (0.5, 0.44), (0.46, 0.4)]]))
    return pieces


def _lower(rng: np.random.Generator) -> list[Piece]:
    category = int(rng.choice([PANTS, PANTS, SHORTS, SKIRT, SKIRT]))
    pieces = []
    if category == SKIRT:
        hem = float(rng.uniform(0.68, 0.85))
        length = "mini (length)" if hem < 0.74 else "knee (length)"
        pieces.append(Piece(SKIRT, [[(0.3, 0.5), (0.7, 0.5), (0.77, hem), (0.23, hem)]], attributes=[length]))
        if rng.random() < 0.25:
            pieces.append(Piece(RUFFLE, [rect(0.24, hem - 0.04, 0.76, hem)]))
        if rng.random() < 0.1:
            pieces.append(Piece(FRINGE, [rect(0.25, hem, 0.75, hem + 0.03)]))
    else:
        hem = 0.93 if category == PANTS else 0.66
        leg = [(0.3, 0.5), (0.5, 0.5), (0.49, hem), (0.35, hem)]
        pieces.append(Piece(category, [leg, mirror(leg)], attributes=["regular (fit)", "normal waist"]))
        if rng.random() < 0.6:
            pieces.append(Piece(POCKET, [rect(0.32, 0.53, 0.4, 0.6)]))
        if category == PANTS and rng.random() < 0.1:
            pieces.append(Piece(RIVET, [rect(0.31, 0.51, 0.42, 0.62)], iscrowd=True))
    if category != PANTS and rng.random() < 0.4:
        pieces.append(Piece(TIGHTS, [rect(0.37, hem, 0.47, 0.93), rect(0.53, hem, 0.63, 0.93)]))
    return pieces


def _belt(rng: np.random.Generator, waist: float) -> list[Piece]:
    pieces = [Piece(BELT, [rect(0.28, waist - 0.02, 0.72, waist + 0.02)], attributes=["leather"])]
    if rng.random() < 0.7:
        pieces.append(Piece(BUCKLE, [rect(0.47, waist - 0.02, 0.53, waist + 0.02)]))
    return pieces


def _dress(rng: np.random.Generator) -> list[Piece]:
    hem = float(rng.uniform(0.7, 0.92))
    body = [(0.3, 0.15), (0.7, 0.15), (0.71, 0.48), (0.8, hem), (0.2, hem), (0.29, 0.48)]
    polygons, pieces = [body], []
    if rng.random() < 0.6:
        left, right = _sleeves(0.3)
        polygons += [left, right]
        pieces += [Piece(SLEEVE, [left], attributes=["short (length)"]), Piece(SLEEVE, [right])]
    length = "maxi (length)" if hem > 0.85 else "knee (length)"
    pieces.insert(0, Piece(DRESS, polygons, attributes=["symmetrical", length]))
    pieces.append(Piece(NECKLINE, [[(0.41, 0.15), (0.59, 0.15), (0.5, 0.21)]], attributes=["round (neck)"]))
    if rng.random() < 0.6:
        pieces += _belt(rng, 0.47)
    if rng.random() < 0.4:  # a scatter of sequins marked as one imprecise crowd region, as Fashionpedia does
        pieces.append(Piece(SEQUIN, [rect(0.33, 0.24, 0.67, 0.42)], iscrowd=True))
    decorations = {BOW: ellipse(0.6, 0.3, 0.04, 0.025), FLOWER: ellipse(0.38, 0.3, 0.035, 0.035),
                   APPLIQUE: rect(0.4, 0.6, 0.6, 0.7), RUFFLE: rect(0.21, hem - 0.04, 0.79, hem)}  # fmt: skip
    for category, polygon in decorations.items():
        if rng.random() < 0.2:
            pieces.append(Piece(category, [polygon]))
    return pieces


def _jumpsuit(rng: np.random.Generator) -> list[Piece]:
    body = [(0.28, 0.15), (0.72, 0.15), (0.7, 0.5), (0.66, 0.93), (0.52, 0.93), (0.5, 0.56), (0.48, 0.56),
            (0.48, 0.93), (0.34, 0.93), (0.3, 0.5)]  # fmt: skip
    left, right = _sleeves(0.45)
    return [
        Piece(JUMPSUIT, [body, left, right], attributes=["regular (fit)"]),
        Piece(SLEEVE, [left], attributes=["wrist-length"]),
        Piece(SLEEVE, [right], attributes=["wrist-length"]),
        Piece(NECKLINE, [[(0.42, 0.15), (0.58, 0.15), (0.5, 0.23)]], attributes=["v-neck"]),
        Piece(ZIPPER, [rect(0.494, 0.23, 0.506, 0.5)], attributes=["zip-up"]),
    ]


WRIST_V = 0.53  # where the arms end, in figure coordinates

# (chance, [(category, polygons, iscrowd), ...]): accessories drawn independently of the outfit.
_ACCESSORIES = (
    (
        0.85,
        [
            (SHOE, [ellipse(0.42, 0.955, 0.07, 0.025)], False),
            (SHOE, [ellipse(0.58, 0.955, 0.07, 0.025)], False),
        ],
    ),
    (0.15, [(SOCK, [rect(0.37, 0.9, 0.47, 0.935)], False), (SOCK, [rect(0.53, 0.9, 0.63, 0.935)], False)]),
    (0.05, [(LEG_WARMER, [rect(0.36, 0.78, 0.48, 0.9)], False)]),
    (
        0.3,
        [
            (
                HAT,
                [[(0.38, 0.04), (0.62, 0.04), (0.7, 0.055), (0.3, 0.055)], rect(0.42, -0.02, 0.58, 0.04)],
                False,
            )
        ],
    ),
    (0.1, [(HEADBAND, [rect(0.43, 0.02, 0.57, 0.035)], False)]),
    (0.25, [(GLASSES, [ellipse(0.46, 0.065, 0.025, 0.012), ellipse(0.54, 0.065, 0.025, 0.012)], False)]),
    (0.15, [(SCARF, [rect(0.4, 0.12, 0.6, 0.16), rect(0.52, 0.16, 0.57, 0.3)], False)]),
    (0.4, [(BAG, [rect(0.78, 0.42, 0.98, 0.56), [(0.8, 0.42), (0.83, 0.3), (0.86, 0.42)]], False)]),
    (0.15, [(WATCH, [rect(0.1, WRIST_V - 0.02, 0.17, WRIST_V)], False)]),
    (0.05, [(GLOVE, [ellipse(0.135, WRIST_V + 0.04, 0.04, 0.035)], False)]),
    (0.05, [(UMBRELLA, [[(0.02, 0.12), (0.2, -0.02), (0.38, 0.12)], rect(0.19, 0.12, 0.21, 0.5)], False)]),
    (0.05, [(CAPE, [[(0.27, 0.14), (0.73, 0.14), (0.85, 0.6), (0.15, 0.6)]], False)]),
    (0.05, [(RIBBON, [rect(0.43, 0.005, 0.57, 0.02)], False)]),
    (0.05, [(BEAD, [rect(0.42, 0.14, 0.58, 0.2)], True)]),  # a necklace of beads: one crowd region
)


def _accessories(rng: np.random.Generator) -> list[Piece]:
    pieces = []
    for chance, items in _ACCESSORIES:
        if rng.random() < chance:
            pieces += [Piece(category, polygons, iscrowd=crowd) for category, polygons, crowd in items]
    if any(p.category_id == BAG for p in pieces) and rng.random() < 0.3:
        pieces.append(Piece(TASSEL, [rect(0.95, 0.56, 0.97, 0.62)]))
    return pieces


def random_outfit(rng: np.random.Generator) -> tuple[list[Piece], float]:
    """Pieces worn by one figure and the v of its wrist (for drawing arms); polygons in figure coordinates."""
    kind = rng.random()
    if kind < 0.6:
        category = int(rng.choice([SHIRT, TOP, SWEATER, CARDIGAN, JACKET, VEST, COAT]))
        bottom = 0.72 if category == COAT else 0.52
        pieces = _upper(rng, category, bottom) + _lower(rng)
        if category != COAT and rng.random() < 0.4:
            pieces += _belt(rng, 0.5)
    elif kind < 0.9:
        pieces = _dress(rng)
    else:
        pieces = _jumpsuit(rng)
    return pieces + _accessories(rng), WRIST_V
