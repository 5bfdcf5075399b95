"""Variants of the assignment `decoder` (decoder.RefineLevel.combine, RefineDecoder.forward) for the kit's own
tests. Region 1: combine; region 2: the decoder's forward (None keeps the repository's body). tests/test_course.py
expects course/grade.py to pass the correct one and fail the others.
"""

FORWARD = '''
H, W = feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0]
skips = [None, feats[3], feats[2], feats[1], feats[0]]
sides = self.side if self.side is not None else [None] * len(self.levels)
m, side_logits = top, []
for level, skip, side in zip(self.levels, skips, sides):
    m = level.combine(m, skip)
    if side is not None:
        side_logits.append(F.interpolate(side(m), size=(H, W)))
    m = level.up(m)
return self.classifier(m), side_logits
'''

VARIANTS = {
    "alternative": dict(correct=True, why="an early return at level 5 and the other order of the sum; the path by "
                                          "level index, reading the skip as feats[4 - i]",
                        bodies=['''
if skip is None:
    return self.smooth_mask(m)
return self.smooth_skip(skip) + self.smooth_mask(m)
''', '''
B, _, h1, w1 = feats[0].shape
size = (h1 * self.strides[0], w1 * self.strides[0])
m, side_logits = top, []
for i, level in enumerate(self.levels):  # R^5 .. R^1
    m = level.combine(m, feats[4 - i] if i > 0 else None)
    if self.side is not None:
        side_logits.append(F.interpolate(self.side[i](m), size=size, mode="bilinear", align_corners=False))
    m = level.up(m)
return self.classifier(m), side_logits
''']),
    "wrong_skip_ignored": dict(correct=False, why="never adds the smoothed skip feature", bodies=['''
return self.smooth_mask(m)
''', None]),
    "wrong_product": dict(correct=False, why="combines the two smoothed maps by a product instead of the sum",
                          bodies=['''
m = self.smooth_mask(m)
if skip is not None:
    m = m * self.smooth_skip(skip)
return m
''', None]),
    "wrong_side_nearest": dict(correct=False, why="upsamples the side logits with F.interpolate's default mode "
                                                  "'nearest' instead of bilinear", bodies=[None, FORWARD]),
}
