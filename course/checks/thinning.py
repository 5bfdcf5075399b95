"""Checks of the assignment `thinning`: the deletion conditions of MATLAB's `bwmorph(b, 'thin', Inf)`.

Paper Sec. 4.1.3: every thresholded prediction is thinned to one pixel before it is matched to the ground truth.
The student writes `_thin_lut(second)` in scoring/thinning.py: the table that says, for each of the 256
8-neighbourhoods, whether subiteration 1 (G1, G2, G3) or 2 (G1, G2, G3') of Lam, Lee and Suen (1992) deletes the
centre pixel. The checks only call `thin` (behaviour): pictures worked out by hand from the conditions (the same
ones MATLAB's bwmorph draws), and invariants any thinning must keep (subset, idempotent, topology).
Pictures are written row by row, '#' = foreground, rows separated by '/'.
"""
import numpy as np
from scipy import ndimage as ndi

from scoring.thinning import thin

EIGHT = np.ones((3, 3), bool)  # 8-connectivity for the foreground (the 4-connected background holds the holes)


def _pic(a):
    return "/".join("".join("#" if v else "." for v in row) for row in np.asarray(a, bool))


def _from_pic(s):
    return np.array([[c == "#" for c in row] for row in s.split("/")])


def _expect(name, before, after, hint):
    got = thin(_from_pic(before))
    want = _from_pic(after)
    assert np.array_equal(np.asarray(got, bool), want), (
        f"expected thin({name}) = {after}, got {_pic(got)}; {hint}")
    return f"expected thin({name}) = {after}, got it"


def _topology(a):
    """(8-connected foreground components, 4-connected background components of the map framed by one pixel)."""
    framed = np.pad(np.asarray(a, bool), 1)
    return ndi.label(framed, EIGHT)[1], ndi.label(~framed)[1]


def check_curves_unchanged():
    """a single pixel and one-pixel-wide curves (straight, diagonal, bent) are already thin: unchanged"""
    curves = {
        "a single pixel": "...../..#../.....",
        "a horizontal line": "......./.#####./.......",
        "a diagonal": "....../.#..../..#.../...#../....#./......",
        "a bent curve": "......./.#...../..#..../...###./.......",
    }
    for name, s in curves.items():
        a = _from_pic(s)
        got = np.asarray(thin(a), bool)
        assert np.array_equal(got, a), (
            f"expected {name} {s} unchanged, got {_pic(got)}; an end pixel has one neighbour, so "
            f"min(n1, n2) = 1 < 2 and G2 keeps it, and an inner pixel joins two parts (X_H = 2), so G1 keeps it: "
            f"check G2's lower bound 2 and the crossing number X_H (G1)")
    return f"expected {len(curves)} curves unchanged, got them unchanged"


def check_corner_cut():
    """the corner of a 4-connected L is deleted: an 8-connected step is thin enough (G1 counts 4-neighbour gaps)"""
    return _expect("a 4-connected L", "......./.#...../.#...../.#####./.......",
                   "......./.#...../.#...../..####./.......",
                   "the corner pixel has N and E set and NE clear: X_H = 1 (only b4 = ~x7 & (x8 | x1) is 1), "
                   "min(n1, n2) = 2 and G3' holds, so subiteration 2 deletes it and N, E stay 8-connected; counting "
                   "the 0->1 changes around all 8 neighbours (Zhang-Suen's A(p) = 2) keeps it: compute X_H as "
                   "the sum over i = 1..4 of (~x_(2i-1) & (x_(2i) | x_(2i+1)))")


def check_two_by_two_block():
    """a 2x2 block thins to its bottom-left pixel (worked out by hand from G1, G2, G3)"""
    return _expect("a 2x2 block", "....../....../..##../..##../....../......",
                   "....../....../....../..#.../....../......",
                   "in subiteration 1 the top-left, top-right and bottom-right pixels pass G1 (X_H = 1), G2 "
                   "(n1 = n2 = 2) and G3; the bottom-left one has x1 (E) set and x8 (SE) clear, so "
                   "(x2 | x3 | ~x8) & x1 = 1 and G3 keeps it. Check the neighbour order (bit i-1 of the code is "
                   "x_i: x1 = E, x2 = NE, x3 = N, ... counter-clockwise, x8 = SE) and that subiteration 1 uses G3; a "
                   "block that vanishes is the known flaw of Zhang-Suen's conditions, which bwmorph does not use")


def check_blocks_and_bars():
    """filled blocks and 2-pixel bars thin to the lines MATLAB's bwmorph draws"""
    cases = [
        ("a 3x3 block", "......./......./..###../..###../..###../......./.......",
         "......./......./......./...#.../......./......./......."),
        ("a 5x8 rectangle",
         "............/..########../..########../..########../..########../..########../............",
         "............/............/............/....####..../............/............/............"),
        ("a horizontal 2x8 bar", ".........../.........../.########../.########../...........",
         ".........../.........../.........../.#######.../..........."),
        ("a vertical 6x2 bar", "......../..##..../..##..../..##..../..##..../..##..../..##..../........",
         "......../......../..#...../..#...../..#...../..#...../..#...../........"),
        ("a 3x3 block notched on its east side", "...../.###./.##../.###./.....", "...../...#./..#../...#./....."),
    ]
    for name, before, after in cases:
        _expect(name, before, after,
                "the two subiterations peel opposite sides: subiteration 1 (G3: (x2 | x3 | ~x8) & x1 = 0) removes "
                "pixels of the east side (x1 = 0) or the north side (x2 = x3 = 0, x8 = 1), subiteration 2 (G3': "
                "(x6 | x7 | ~x4) & x5 = 0) those of the west or south side; a bar that ends on the wrong row or column "
                "has G3 and G3' swapped or the same G3 in both; a bar that shrinks to a point deletes end "
                "pixels (G2 needs 2 <= min(n1, n2) <= 3); the notch pixel of the notched block has 7 neighbours, "
                "n1 = n2 = 4, and G2's upper bound 3 keeps it (the MIN of n1 and n2, not the max)")
    return f"expected {len(cases)} pictures, got all {len(cases)}"


def check_topology_kept():
    """a ring keeps its hole and a disc does not vanish: G1 (X_H = 1) never cuts or erases a shape"""
    yy, xx = np.mgrid[:21, :21]
    d = np.hypot(yy - 10, xx - 10)
    for name, a in (("a ring (radii 4..8)", (d >= 4) & (d <= 8)), ("a disc (radius 6)", d <= 6)):
        t = np.asarray(thin(a), bool)
        want, got = _topology(a), _topology(t)
        assert got == want and t.any(), (
            f"expected {name} to keep {want[0]} piece(s) and {want[1] - 1} hole(s), got {got[0]} piece(s) and "
            f"{got[1] - 1} hole(s) ({int(t.sum())} pixels left); G1 deletes a pixel only when its crossing number "
            f"X_H = sum over i = 1..4 of (~x_(2i-1) & (x_(2i) | x_(2i+1))) equals 1, which keeps the shape "
            f"8-connected and its holes open; counting 0->1 changes around all 8 neighbours is Zhang-Suen's "
            f"A(p), another algorithm")
        assert t.sum() < a.sum() / 3, (f"expected {name} thinned to a curve, got {int(t.sum())} of {int(a.sum())} "
                                       f"pixels left; repeat both subiterations until nothing changes")
    return "expected the ring's hole and the disc kept, got both"


def check_invariants_random():
    """on 8 random blobs: thin(b) is inside b, one pass is enough (idempotent), pieces and holes are kept"""
    rng = np.random.default_rng(0)
    for i in range(8):
        b = ndi.gaussian_filter(rng.random((24, 30)), 2) > 0.5
        t = np.asarray(thin(b), bool)
        assert not (t & ~b).any(), (f"expected thin(b) inside b, got {int((t & ~b).sum())} new pixels (blob {i}); "
                                    "thinning only deletes")
        tt = np.asarray(thin(t), bool)
        assert np.array_equal(tt, t), (
            f"expected thin(thin(b)) = thin(b), got {int((tt != t).sum())} more pixels deleted (blob {i}); "
            "thinning repeats both subiterations until nothing changes, so its result is a fixed point: a pixel "
            "deleted on a second run was deletable, check that a subiteration deletes all its pixels at once")
        assert _topology(t) == _topology(b), (
            f"expected (pieces, background regions) {_topology(b)}, got {_topology(t)} (blob {i}); a piece vanished, "
            "split or merged: G1 (X_H = 1) keeps 8-connectivity and G2's lower bound 2 keeps the last pixels of a "
            "small piece")
        assert t.sum() < b.sum(), (f"expected fewer pixels after thinning blob {i}, got {int(t.sum())} of "
                                   f"{int(b.sum())}; a border pixel with X_H = 1 and 2 <= min(n1, n2) <= 3 is deleted")
    return "expected 8 blobs thinned inside themselves, idempotent, topology kept; got that"
