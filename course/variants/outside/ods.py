"""Solutions of the assignment `ods` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
GOOD = ['''
c = np.moveaxis(np.asarray(counts, dtype=np.float64), -2, 0)  # (4, ..., n_t)
cnt_r, sum_r, cnt_p, sum_p = c[CNT_R], c[SUM_R], c[CNT_P], c[SUM_P]
recall = np.divide(cnt_r, sum_r, out=np.zeros_like(cnt_r), where=sum_r != 0)
precision = np.divide(cnt_p, sum_p, out=np.zeros_like(cnt_p), where=sum_p != 0)
return recall, precision
''', '''
r, p = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
s = r + p
with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(s > 0, 2 * r * p / np.where(s > 0, s, 1), 0.0)
''', '''
def fm(r, p):
    return 0.0 if r + p == 0 else 2 * r * p / (r + p)
best = (float(thresholds[0]), float(R[0]), float(P[0]), fm(float(R[0]), float(P[0])))
for i in range(len(thresholds) - 1):          # scan every segment, 100 points each, first to last
    for k in range(100):
        d = k / 99
        t = thresholds[i] + (thresholds[i + 1] - thresholds[i]) * d
        r = R[i] + (R[i + 1] - R[i]) * d
        p = P[i] + (P[i + 1] - P[i]) * d
        f = fm(float(r), float(p))
        if f > best[3]:
            best = (float(t), float(r), float(p), f)
return best
''', '''
points = {}
for r, p in zip(np.asarray(R, float).tolist(), np.asarray(P, float).tolist()):
    points.setdefault(r, p)                     # the first threshold with this recall
rs = sorted(points)
if len(rs) < 2:
    return 0.0
total = 0.0
for k in range(101):
    level = k / 100
    if level < rs[0] or level > rs[-1]:
        continue                                # zero outside the measured recalls
    for a, b in zip(rs, rs[1:]):
        if a <= level <= b:
            total += points[a] + (points[b] - points[a]) * (level - a) / (b - a)
            break
return total * 0.01
''', '''
for k in range(self.num_classes):
    rec, prec = recall_precision(counts[k])
    f = f_measure(rec, prec).tolist()
    self.ois_counts[k] += counts[k][:, f.index(max(f))]
''']
def with_(i, body):
    b = list(GOOD); b[i] = body; return b
VARIANTS = {
"mine_correct": dict(correct=True, bodies=GOOD),
"wrong_interpolate_f": dict(correct=False, bodies=with_(2, '''
F = f_measure(R, P)
d = np.linspace(0, 1, 100)[None, :]
t = (thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)).ravel()
r = (R[1:, None] * d + R[:-1, None] * (1 - d)).ravel()
p = (P[1:, None] * d + P[:-1, None] * (1 - d)).ravel()
f = (F[1:, None] * d + F[:-1, None] * (1 - d)).ravel()
b = int(np.argmax(f))
return float(t[b]), float(r[b]), float(p[b]), float(f[b])
''')),
"wrong_interpolate_recall_only": dict(correct=False, bodies=with_(2, '''
d = np.linspace(0, 1, 100)[None, :]
t = (thresholds[1:, None] * d + thresholds[:-1, None] * (1 - d)).ravel()
r = (R[1:, None] * d + R[:-1, None] * (1 - d)).ravel()
p = np.repeat(P[:-1], 100)
f = f_measure(r, p)
b = int(np.argmax(f))
return float(t[b]), float(r[b]), float(p[b]), float(f[b])
''')),
"wrong_ap_no_zero_outside": dict(correct=False, bodies=with_(3, '''
Ru, first = np.unique(R, return_index=True)
if Ru.size < 2:
    return 0.0
return float(np.interp(np.linspace(0, 1, 101), Ru, P[first]).sum() * 0.01)
''')),
"wrong_ois_skips_images_without_gt": dict(correct=False, bodies=with_(4, '''
for k in range(self.num_classes):
    if counts[k, SUM_R, 0] == 0:
        continue
    F = f_measure(*recall_precision(counts[k]))
    self.ois_counts[k] += counts[k][:, int(np.argmax(F))]
''')),
"wrong_ap_last_duplicate": dict(correct=False, bodies=with_(3, '''
order = np.argsort(R, kind="stable")
Rs, Ps = R[order], P[order]
keep = np.r_[Rs[1:] != Rs[:-1], True]          # the last point of each recall value
Rs, Ps = Rs[keep], Ps[keep]
if Rs.size < 2:
    return 0.0
return float(np.interp(np.linspace(0, 1, 101), Rs, Ps, left=0.0, right=0.0).sum() * 0.01)
''')),
"wrong_rp_axis0": dict(correct=False, bodies=with_(0, '''
c = np.asarray(counts, dtype=np.float64)
sum_r, sum_p = c[SUM_R], c[SUM_P]
return c[CNT_R] / np.maximum(sum_r, 1), c[CNT_P] / np.maximum(sum_p, 1)
''')),
"wrong_ods_ge_not_strict": dict(correct=False, bodies=with_(2, '''
def fm(r, p):
    return 0.0 if r + p == 0 else 2 * r * p / (r + p)
best = (float(thresholds[0]), float(R[0]), float(P[0]), fm(float(R[0]), float(P[0])))
for i in range(len(thresholds) - 1):
    for k in range(100):
        d = k / 99
        t = thresholds[i] + (thresholds[i + 1] - thresholds[i]) * d
        r = R[i] + (R[i + 1] - R[i]) * d
        p = P[i] + (P[i + 1] - P[i]) * d
        f = fm(float(r), float(p))
        if f >= best[3]:
            best = (float(t), float(r), float(p), f)
return best
''')),
}
