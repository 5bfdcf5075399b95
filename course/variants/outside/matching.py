"""Solutions of the assignment `matching` written outside the kit, from docs/course.md alone, by a grader who had not
read the kit's own variants: `mine_correct` (and any `also_correct_*`) must pass, every `wrong_*` must fail. Several
of these once passed a check that was then sharpened; tests/test_course.py keeps them failing.
"""
KUHN = '''
P, G = np.argwhere(pred), np.argwhere(gt)
near = [[j for j, g in enumerate(G) if NEAR] for p in P]
mate = [-1] * len(G)
SEEN_OUT
def augment(i, seen):
    for j in near[i]:
        if not seen[j]:
            seen[j] = True
            BODY
    return False

return sum(augment(i, SEEN_IN) for i in range(len(P)))
'''
GOOD_BODY = '''if mate[j] < 0 or augment(mate[j], seen):
                mate[j] = i
                return True'''
def kuhn(near="((p - g) ** 2).sum() <= radius * radius", seen_out="", seen_in="[False] * len(G)", body=GOOD_BODY):
    return KUHN.replace("NEAR", near).replace("SEEN_OUT", seen_out).replace("SEEN_IN", seen_in).replace("BODY", body)

VARIANTS = {
"mine_correct": dict(correct=True, bodies=['''
from collections import deque
from scipy.spatial.distance import cdist

P, G = np.argwhere(pred).astype(float), np.argwhere(gt).astype(float)
if len(P) == 0 or len(G) == 0:
    return 0
adj = [np.flatnonzero(row) for row in cdist(P, G) <= radius]
match_p, match_g = np.full(len(P), -1), np.full(len(G), -1)
size = 0
for start in range(len(P)):                   # one BFS for an augmenting path from each predicted pixel
    parent = {}                               # GT pixel -> the predicted pixel it was reached from
    queue, end = deque([start]), -1
    while queue and end < 0:
        i = queue.popleft()
        for j in adj[i]:
            if j in parent:
                continue
            parent[j] = i
            if match_g[j] < 0:
                end = j
                break
            queue.append(match_g[j])
    if end < 0:
        continue
    j = end
    while j >= 0:                             # flip the path back to the start
        i = parent[j]
        next_j = match_p[i]
        match_p[i], match_g[j] = j, i
        j = next_j
    size += 1
return size
''']),
"wrong_seen_shared": dict(correct=False, bodies=[kuhn(seen_out="seen_all = [False] * len(G)", seen_in="seen_all")]),
"wrong_mate_not_updated": dict(correct=False, bodies=[kuhn(body='''if mate[j] < 0:
                mate[j] = i
                return True
            if augment(mate[j], seen):
                return True''')]),
"wrong_squared_vs_radius": dict(correct=False, bodies=[kuhn(near="((p - g) ** 2).sum() <= radius")]),
"wrong_round_radius": dict(correct=False, bodies=[kuhn(near="((p - g) ** 2).sum() <= int(radius) ** 2")]),
}
