"""Variants of the assignment `seal_edges` (the body of `edge_bits` in edgedata/labels.py), for the kit's own tests
(tests/test_course.py): one correct solution written differently, three wrong ones that the checks of
course/checks/seal_edges.py must fail. SEAL's mask-to-edge rule (paper Sec. 4.1.1)."""

VARIANTS = {
    "alternative": dict(correct=True, why="its own disc loops and a padded copy, every ordered pair (p, q) marking "
                        "p only, instead of disc_offsets and each unordered pair once", bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~np.asarray(ignore, bool)
bits = class_bits(classes)
R = int(np.floor(radius))
regions_pad = np.pad(regions, R)
valid_pad = np.pad(valid, R, constant_values=False)  # outside the image: never a valid q
bits_pad = np.pad(bits, R)
out = np.zeros((H, W), np.uint32)
for dy in range(-R, R + 1):
    for dx in range(-R, R + 1):
        if (dy == 0 and dx == 0) or dy * dy + dx * dx > radius * radius:
            continue
        q = (slice(R + dy, R + dy + H), slice(R + dx, R + dx + W))
        differ = (regions != regions_pad[q]) & valid & valid_pad[q]
        out |= np.where(differ, bits | bits_pad[q], np.uint32(0))
out[~valid] |= IGNORE_BIT
return out
''']),
    "wrong_strict_radius": dict(correct=False, why="dy^2 + dx^2 < r^2: the pixels at exactly distance r are left out",
                                bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~np.asarray(ignore, bool)
bits = class_bits(classes)
R = int(np.floor(radius))
regions_pad = np.pad(regions, R)
valid_pad = np.pad(valid, R, constant_values=False)
bits_pad = np.pad(bits, R)
out = np.zeros((H, W), np.uint32)
for dy in range(-R, R + 1):
    for dx in range(-R, R + 1):
        if (dy == 0 and dx == 0) or dy * dy + dx * dx >= radius * radius:
            continue
        q = (slice(R + dy, R + dy + H), slice(R + dx, R + dx + W))
        differ = (regions != regions_pad[q]) & valid & valid_pad[q]
        out |= np.where(differ, bits | bits_pad[q], np.uint32(0))
out[~valid] |= IGNORE_BIT
return out
''']),
    "wrong_wraps_around": dict(correct=False, why="np.roll for the shifted map: q outside the image wraps around to "
                               "the other side instead of being skipped", bodies=['''
H, W = regions.shape
valid = np.ones((H, W), bool) if ignore is None else ~np.asarray(ignore, bool)
bits = class_bits(classes)
out = np.where(valid, np.uint32(0), IGNORE_BIT)
for dy, dx in zip(*disc_offsets(radius)):
    if dy == 0 and dx == 0:
        continue
    shift = (-int(dy), -int(dx))  # the map at q = p + (dy, dx), seen from p
    differ = (regions != np.roll(regions, shift, axis=(0, 1))) & valid & np.roll(valid, shift, axis=(0, 1))
    out |= np.where(differ, bits | np.roll(bits, shift, axis=(0, 1)), np.uint32(0))
return out
''']),
    "wrong_ignore_kept": dict(correct=False, why="the pairs with an ignored pixel are compared like any other pair "
                              "(ignored pixels only get bit 31)", bodies=['''
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
    differ = regions[p] != regions[q]
    pair = np.where(differ, bits[p] | bits[q], np.uint32(0))
    out[p] |= pair
    out[q] |= pair
return out
''']),
}
