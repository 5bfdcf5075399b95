"""scoring/thinning.py: MATLAB bwmorph thin on known shapes, idempotence, and the stacked per-threshold
thinning that metrics.py uses equal to thinning each threshold's map alone."""
import numpy as np
from scipy import ndimage as ndi

from scoring.thinning import thin, thin_thresholds


def test_thin_rectangle_to_line():
    a = np.zeros((9, 20), bool)
    a[2:7, 3:17] = True  # 5 x 14 filled rectangle
    t = thin(a)
    assert t.sum() > 0 and not (t & ~a).any()
    assert (t.sum(axis=0) <= 1).all()  # one pixel thick
    assert np.flatnonzero(t.any(axis=1)).tolist() == [4]  # on the middle row
    assert ndi.label(t, np.ones((3, 3)))[1] == 1


def test_thin_line_unchanged_and_cross():
    line = np.zeros((9, 9), bool)
    line[4, 1:8] = True
    assert np.array_equal(thin(line), line)
    diag = np.eye(9, dtype=bool)
    assert np.array_equal(thin(diag), diag)
    cross = np.zeros((11, 11), bool)
    cross[4:7, 1:10] = cross[1:10, 4:7] = True  # a plus of width 3
    expected = np.zeros((11, 11), bool)
    expected[5, 2:9] = expected[2:9, 5] = True  # thinned to a one-pixel plus
    assert np.array_equal(thin(cross), expected)


def test_thin_two_by_two_block():
    """A 2x2 block, by hand: in subiteration 1 the top-left, top-right and bottom-right pixels pass G1
    (X_H = 1), G2 (n1 = n2 = 2) and G3; the bottom-left one fails G3 ((x2 | x3 | ~x8) & x1 = 1) and stays."""
    a = np.zeros((6, 6), bool)
    a[2:4, 2:4] = True
    t = thin(a)
    assert t.sum() == 1 and t[3, 2]


def test_thin_ring_keeps_its_hole():
    yy, xx = np.mgrid[:21, :21]
    d = np.hypot(yy - 10, xx - 10)
    ring = (d >= 4) & (d <= 8)
    t = thin(ring)
    assert ndi.label(t, np.ones((3, 3)))[1] == 1  # one 8-connected curve
    assert ndi.label(~t)[1] == 2  # background stays split in two (the hole survives)
    assert t.sum() < ring.sum() / 3


def test_thin_idempotent():
    rng = np.random.default_rng(3)
    maps = [ndi.gaussian_filter(rng.random((30, 40)), 2) > 0.5 for _ in range(6)]
    once = [thin(m) for m in maps]
    assert all(np.array_equal(thin(o), o) for o in once)
    assert all(o.sum() < m.sum() for o, m in zip(once, maps))


def test_thin_thresholds_equals_one_map_at_a_time():
    rng = np.random.default_rng(4)
    p = ndi.gaussian_filter(rng.random((26, 31)), 1.5)
    p = (p - p.min()) / (p.max() - p.min())
    thresholds = np.arange(1, 20) / 20
    for do_thin in (True, False):
        maps = thin_thresholds(p, thresholds, do_thin)
        for t, pix in zip(thresholds, maps):
            b = thin(p >= t) if do_thin else p >= t
            assert pix.tolist() == np.flatnonzero(b).tolist()
