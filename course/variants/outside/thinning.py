"""Solutions of the assignment `thinning` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
BASE = '''
lut = np.zeros(256, dtype=bool)
for code in range(256):
    x = [(code >> i) & 1 for i in range(8)] + [code & 1]
    x_h = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))
    n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
    n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
    g3 = ((x[1] | x[2] | (1 - x[7])) & x[0]) == 0
    g3b = ((x[5] | x[6] | (1 - x[3])) & x[4]) == 0
    lut[code] = x_h == 1 and G2 and (G3)
return lut
'''
def v(g2="2 <= min(n1, n2) <= 3", g3="g3b if second else g3", pre=""):
    body = BASE.replace("G2", g2).replace("G3", g3)
    return body.replace("    x = [(code >> i) & 1 for i in range(8)] + [code & 1]\n", pre) if pre else body

VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
codes = np.arange(256)
x = ((codes[:, None] >> np.arange(8)) & 1).astype(bool)   # (256, 8): column i-1 is x_i
x = np.concatenate([x, x[:, :1]], axis=1)                 # column 8 is x9 = x1
odd, even, nxt = x[:, 0:8:2], x[:, 1:8:2], x[:, 2:9:2]    # x1 x3 x5 x7 | x2 x4 x6 x8 | x3 x5 x7 x9
crossing = np.count_nonzero(~odd & (even | nxt), axis=1)
n1 = np.count_nonzero(odd | even, axis=1)
n2 = np.count_nonzero(even | nxt, axis=1)
m = np.minimum(n1, n2)
if not second:
    g3 = ~((x[:, 1] | x[:, 2] | ~x[:, 7]) & x[:, 0])
else:
    g3 = ~((x[:, 5] | x[:, 6] | ~x[:, 3]) & x[:, 4])
return (crossing == 1) & (m >= 2) & (m <= 3) & g3
''']),
"wrong_one_subiteration_g3_or_g3b": dict(correct=False, bodies=[v(g3="g3 or g3b")]),
"wrong_clockwise_neighbours": dict(correct=False, bodies=[v(pre="    x = [(code >> ((8 - i) % 8)) & 1 for i in range(8)]\n    x = x + [x[0]]\n")]),
"wrong_g2_no_upper_bound": dict(correct=False, bodies=[v(g2="min(n1, n2) >= 2")]),
"wrong_xh_index_shift": dict(correct=False, bodies=[v().replace("x_h = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))", "x_h = sum((1 - x[2 * i + 1]) & (x[2 * i + 2] | x[(2 * i + 3) % 8]) for i in range(4))")]),
"wrong_g2_max_not_min": dict(correct=False, bodies=[v(g2="2 <= max(n1, n2) <= 3")]),
}
