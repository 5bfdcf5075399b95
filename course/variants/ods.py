"""Variants of the assignment `ods` (five regions: `recall_precision`, `f_measure` in scoring/counts.py;
`ods_interpolated`, `area_pr` and the OIS lines of `EdgeBenchmark.add_counts` in metrics.py), for the kit's own tests
(tests/test_course.py): one correct solution written differently, three wrong ones that the checks of
course/checks/ods.py must fail. The benchmark's scores from counts (paper Sec. 4.1.3; BSDS collect_eval_bdry)."""

RECALL_PRECISION = '''
c = np.asarray(counts, dtype=np.float64)
sum_r, sum_p = c[..., SUM_R, :], c[..., SUM_P, :]
return c[..., CNT_R, :] / (sum_r + (sum_r == 0)), c[..., CNT_P, :] / (sum_p + (sum_p == 0))
'''
F_MEASURE = '''
return 2 * precision * recall / (precision + recall + ((precision + recall) == 0))
'''
ODS = '''
d = np.linspace(0, 1, 100)[None, :]
t = thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)
r = R[1:, None] * d + R[:-1, None] * (1 - d)
p = P[1:, None] * d + P[:-1, None] * (1 - d)
f = f_measure(r, p).ravel()
best = int(np.argmax(f)) if f.size else 0
if f.size == 0 or f[best] <= f_measure(R[0], P[0]):
    return float(thresholds[0]), float(R[0]), float(P[0]), float(f_measure(R[0], P[0]))
return float(t.ravel()[best]), float(r.ravel()[best]), float(p.ravel()[best]), float(f[best])
'''
AREA_PR = '''
Ru, first = np.unique(R, return_index=True)
if Ru.size < 2:
    return 0.0
return float(np.interp(np.linspace(0, 1, 101), Ru, P[first], left=0.0, right=0.0).sum() * 0.01)
'''
OIS = '''
F = f_measure(*recall_precision(counts))
best = np.argmax(F, axis=1)
self.ois_counts += counts[np.arange(self.num_classes), :, best]
'''

VARIANTS = {
    "alternative": dict(correct=True, why="explicit loops and np.divide(where=...) instead of the vectorised forms",
                        bodies=['''
c = np.asarray(counts, dtype=np.float64)
recall = np.divide(c[..., CNT_R, :], c[..., SUM_R, :], out=np.zeros(c[..., CNT_R, :].shape), where=c[..., SUM_R, :] > 0)
precision = np.divide(c[..., CNT_P, :], c[..., SUM_P, :], out=np.zeros(c[..., CNT_P, :].shape),
                      where=c[..., SUM_P, :] > 0)
return recall, precision
''', '''
recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
total = precision + recall
f = np.divide(2 * precision * recall, total, out=np.zeros(np.broadcast(recall, precision).shape), where=total > 0)
return f if f.ndim else f[()]
''', '''
best = (float(thresholds[0]), float(R[0]), float(P[0]), float(f_measure(R[0], P[0])))
for i in range(len(thresholds) - 1):  # scan each segment, d from 0 to 1; strictly better wins
    for d in np.linspace(0, 1, 100):
        r, p = R[i + 1] * d + R[i] * (1 - d), P[i + 1] * d + P[i] * (1 - d)
        f = float(f_measure(r, p))
        if f > best[3]:
            best = (float(thresholds[i + 1] * d + thresholds[i] * (1 - d)), float(r), float(p), f)
return best
''', '''
points = {}
for r, p in zip(R, P):  # the first precision seen for each recall value
    points.setdefault(float(r), float(p))
if len(points) < 2:
    return 0.0
rs = sorted(points)
total = 0.0
for level in np.linspace(0, 1, 101):
    if level < rs[0] or level > rs[-1]:
        continue  # zero outside the measured recalls
    j = max(k for k in range(len(rs)) if rs[k] <= level)
    if j == len(rs) - 1:
        total += points[rs[j]]
    else:
        w = (level - rs[j]) / (rs[j + 1] - rs[j])
        total += (1 - w) * points[rs[j]] + w * points[rs[j + 1]]
return total * 0.01
''', '''
R_img, P_img = recall_precision(counts)
for k in range(self.num_classes):
    F_k = list(f_measure(R_img[k], P_img[k]))
    self.ois_counts[k] += counts[k, :, F_k.index(max(F_k))]
''']),
    "wrong_no_interpolation": dict(correct=False, why="ODS = the best F of the measured thresholds only, no linear "
                                   "interpolation between them",
                                   bodies=[RECALL_PRECISION, F_MEASURE, '''
f = f_measure(R, P)
best = int(np.argmax(f))
return float(thresholds[best]), float(R[best]), float(P[best]), float(f[best])
''', AREA_PR, OIS]),
    "wrong_nan_on_empty": dict(correct=False, why="recall and precision divide by sumR and sumP as they are: 0/0 "
                               "gives nan where a threshold predicts nothing",
                               bodies=['''
c = np.asarray(counts, dtype=np.float64)
return c[..., CNT_R, :] / c[..., SUM_R, :], c[..., CNT_P, :] / c[..., SUM_P, :]
''', F_MEASURE, ODS, AREA_PR, OIS]),
    "wrong_trapezoid_ap": dict(correct=False, why="AP as the trapezoid area under the PR curve (np.trapz over the "
                               "measured points), not BSDS Area_PR", bodies=[RECALL_PRECISION, F_MEASURE, ODS, '''
order = np.argsort(R)
r, p = np.asarray(R, float)[order], np.asarray(P, float)[order]
return float(np.sum((r[1:] - r[:-1]) * (p[1:] + p[:-1]) / 2))
''', OIS]),
}
