"""Solutions of the assignment `decoder` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
terms = [self.smooth_mask(m)]
if skip is not None:
    terms.append(self.smooth_skip(skip))
return torch.stack(terms).sum(dim=0)
''', '''
size = [n * self.strides[-1] for n in feats[-1].shape[-2:]]
skips = [None] + list(reversed(feats[:-1]))  # c4, c3, c2, c1 after level 5
side_logits = []
m = top
for i in range(len(self.levels)):
    m = self.levels[i].combine(m, skips[i])
    if self.side is not None:
        side_logits += [F.interpolate(self.side[i](m), size=tuple(size), mode="bilinear")]
    m = self.levels[i].up(m)
logits = self.classifier(m)
return logits, side_logits
''']),
"wrong_side_after_up": dict(correct=False, bodies=[None, '''
H, W = feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0]
skips = [None, feats[3], feats[2], feats[1], feats[0]]
m, side_logits = top, []
for i, (level, skip) in enumerate(zip(self.levels, skips)):
    m = level.up(level.combine(m, skip))
    if self.side is not None:
        side_logits.append(F.interpolate(self.side[i](m), size=(H, W), mode="bilinear", align_corners=False))
return self.classifier(m), side_logits
''']),
"wrong_swapped_smoothers": dict(correct=False, bodies=['''
if skip is None:
    return self.smooth_mask(m)
return self.smooth_mask(skip) + self.smooth_skip(m)
''', None]),
"wrong_align_corners": dict(correct=False, bodies=[None, '''
H, W = feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0]
skips = [None, feats[3], feats[2], feats[1], feats[0]]
m, side_logits = top, []
for i, (level, skip) in enumerate(zip(self.levels, skips)):
    m = level.combine(m, skip)
    if self.side is not None:
        side_logits.append(F.interpolate(self.side[i](m), size=(H, W), mode="bilinear", align_corners=True))
    m = level.up(m)
return self.classifier(m), side_logits
''']),
"wrong_classifier_then_upsample": dict(correct=False, bodies=[None, '''
H, W = feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0]
skips = [None, feats[3], feats[2], feats[1], feats[0]]
m, side_logits = top, []
for i, (level, skip) in enumerate(zip(self.levels, skips)):
    m = level.combine(m, skip)
    if self.side is not None:
        side_logits.append(F.interpolate(self.side[i](m), size=(H, W), mode="bilinear", align_corners=False))
    if i < 4:
        m = level.up(m)
return F.interpolate(self.classifier(m), size=(H, W), mode="bilinear", align_corners=False), side_logits
''']),
"wrong_side_factor_hardcoded": dict(correct=False, bodies=[None, '''
skips = [None, feats[3], feats[2], feats[1], feats[0]]
m, side_logits = top, []
for i, (level, skip) in enumerate(zip(self.levels, skips)):
    m = level.combine(m, skip)
    if self.side is not None:  # level 5 is at stride 32, each level below halves it
        side_logits.append(F.interpolate(self.side[i](m), scale_factor=2 ** (5 - i), mode="bilinear",
                                         align_corners=False))
    m = level.up(m)
return self.classifier(m), side_logits
''']),
}
