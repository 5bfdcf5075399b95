"""Variants of the assignment `thinning` (the body of `_thin_lut(second)` in scoring/thinning.py), for the kit's own
tests (tests/test_course.py): one correct solution written differently, three wrong ones that the checks of
course/checks/thinning.py must fail. Lam, Lee and Suen (1992), the algorithm of MATLAB's bwmorph 'thin'."""

VARIANTS = {
    "alternative": dict(correct=True, why="1-based neighbour dict and explicit loops; G3' obtained as G3 on the "
                        "neighbourhood turned by 180 degrees (x_i -> x_(i+4))", bodies=['''
lut = np.zeros(256, dtype=bool)
for code in range(256):
    turned = ((code >> 4) | (code << 4)) & 0xFF if second else code  # G3' is G3 turned by 180 degrees
    x = {i: (turned >> (i - 1)) & 1 for i in range(1, 9)}
    x[9] = x[1]
    crossing = 0  # G1 and G2 do not change when the neighbourhood turns by 180 degrees
    for i in range(1, 5):
        if x[2 * i - 1] == 0 and (x[2 * i] == 1 or x[2 * i + 1] == 1):
            crossing += 1
    n1 = sum(1 for k in range(1, 5) if x[2 * k - 1] or x[2 * k])
    n2 = sum(1 for k in range(1, 5) if x[2 * k] or x[2 * k + 1])
    g3 = not (x[1] and (x[2] or x[3] or not x[8]))
    lut[code] = crossing == 1 and 2 <= min(n1, n2) <= 3 and g3
return lut
''']),
    "wrong_zhang_suen": dict(correct=False, why="Zhang-Suen's thinning (B(p) in 2..6, A(p) = 1), the textbook "
                             "algorithm, not the Lam-Lee-Suen conditions that bwmorph 'thin' implements", bodies=['''
lut = np.zeros(256, dtype=bool)
for code in range(256):
    E, NE, N, NW, W, SW, S, SE = [(code >> i) & 1 for i in range(8)]
    ring = [N, NE, E, SE, S, SW, W, NW]  # P2..P9, clockwise from north
    b = sum(ring)
    a = sum(ring[i] == 0 and ring[(i + 1) % 8] == 1 for i in range(8))
    if second:
        g = N * E * W == 0 and N * S * W == 0
    else:
        g = N * E * S == 0 and E * S * W == 0
    lut[code] = 2 <= b <= 6 and a == 1 and g
return lut
''']),
    "wrong_end_pixels_deleted": dict(correct=False, why="G2 with lower bound 1 (1 <= min(n1, n2) <= 3): end pixels "
                                     "of curves get deleted, lines shrink", bodies=['''
lut = np.zeros(256, dtype=bool)
for code in range(256):
    x = [(code >> i) & 1 for i in range(8)] + [code & 1]
    x_h = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))
    n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
    n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
    if second:
        g3 = ((x[5] | x[6] | (1 - x[3])) & x[4]) == 0
    else:
        g3 = ((x[1] | x[2] | (1 - x[7])) & x[0]) == 0
    lut[code] = x_h == 1 and 1 <= min(n1, n2) <= 3 and g3
return lut
''']),
    "wrong_same_g3_twice": dict(correct=False, why="G3 in both subiterations (G3' forgotten): both peel the east and "
                                "north sides, so the lines end up off-centre", bodies=['''
lut = np.zeros(256, dtype=bool)
for code in range(256):
    x = [(code >> i) & 1 for i in range(8)] + [code & 1]
    x_h = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))
    n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
    n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
    g3 = ((x[1] | x[2] | (1 - x[7])) & x[0]) == 0
    lut[code] = x_h == 1 and 2 <= min(n1, n2) <= 3 and g3
return lut
''']),
}
