"""Solutions of the assignment `seal_edges` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
regions = np.asarray(regions)
H, W = regions.shape
ok = np.ones(H * W, bool) if ignore is None else ~np.asarray(ignore, bool).ravel()
reg, cb = regions.ravel(), class_bits(np.asarray(classes)).ravel()
yy, xx = np.divmod(np.arange(H * W), W)
result = np.zeros(H * W, np.uint32)
R = int(radius)
for dy in range(-R, R + 1):
    for dx in range(-R, R + 1):
        if (dy, dx) == (0, 0) or np.hypot(dy, dx) > radius:
            continue
        qy, qx = yy + dy, xx + dx
        inside = (qy >= 0) & (qy < H) & (qx >= 0) & (qx < W)
        p = np.flatnonzero(inside)
        q = qy[p] * W + qx[p]
        hit = (reg[p] != reg[q]) & ok[p] & ok[q]
        np.bitwise_or.at(result, p[hit], cb[p[hit]] | cb[q[hit]])   # each ordered pair marks its p
result[~ok] = IGNORE_BIT
return result.reshape(H, W)
''']),
"wrong_square_window": dict(correct=False, bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~ignore
bits = class_bits(classes)
out = np.where(valid, np.uint32(0), IGNORE_BIT)
R = int(np.floor(radius))
for dy in range(0, R + 1):
    for dx in range(-R, R + 1):
        if dy == 0 and dx <= 0:
            continue
        p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
        q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
        differ = (regions[p] != regions[q]) & valid[p] & valid[q]
        pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
        out[p] |= pair
        out[q] |= pair
return out
''']),
"wrong_no_ignore_bit": dict(correct=False, bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~ignore
bits = class_bits(classes)
out = np.zeros((H, W), np.uint32)
for dy, dx in zip(*disc_offsets(radius)):
    dy, dx = int(dy), int(dx)
    if dy < 0 or (dy == 0 and dx <= 0) or dy >= H or abs(dx) >= W:
        continue
    p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    differ = (regions[p] != regions[q]) & valid[p] & valid[q]
    pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
    out[p] |= pair
    out[q] |= pair
return out
''']),
"wrong_own_class_only": dict(correct=False, bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~ignore
bits = class_bits(classes)
out = np.where(valid, np.uint32(0), IGNORE_BIT)
for dy, dx in zip(*disc_offsets(radius)):
    dy, dx = int(dy), int(dx)
    if dy < 0 or (dy == 0 and dx <= 0) or dy >= H or abs(dx) >= W:
        continue
    p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    differ = (regions[p] != regions[q]) & valid[p] & valid[q]
    out[p] |= np.where(differ, bits[p], np.uint32(0))
    out[q] |= np.where(differ, bits[q], np.uint32(0))
return out
''']),
"wrong_one_half_mark_p_only": dict(correct=False, bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~ignore
bits = class_bits(classes)
out = np.where(valid, np.uint32(0), IGNORE_BIT)
for dy, dx in zip(*disc_offsets(radius)):
    dy, dx = int(dy), int(dx)
    if dy < 0 or (dy == 0 and dx <= 0) or dy >= H or abs(dx) >= W:
        continue
    p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    differ = (regions[p] != regions[q]) & valid[p] & valid[q]
    out[p] |= np.where(differ, bits[p] | bits[q], np.uint32(0))
return out
''']),
"wrong_ignore_bit_and_class_bits": dict(correct=False, bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~ignore
bits = class_bits(classes)
out = np.zeros((H, W), np.uint32)
for dy, dx in zip(*disc_offsets(radius)):
    dy, dx = int(dy), int(dx)
    if dy < 0 or (dy == 0 and dx <= 0) or dy >= H or abs(dx) >= W:
        continue
    p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    differ = (regions[p] != regions[q])
    pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
    out[p] |= pair
    out[q] |= pair
out[~valid] |= IGNORE_BIT
return out
''']),
}
