"""Variants of the assignment `matching` (the body of `max_matching_reference` in scoring/matching.py), for the kit's
own tests (tests/test_course.py): one correct solution written differently, three wrong ones that the checks of
course/checks/matching.py must fail. The benchmark's one-to-one matching within the tolerance (paper Sec. 4.1.3)."""

VARIANTS = {
    "alternative": dict(correct=True, why="scipy: a k-d tree for the pairs within the radius, then the maximum "
                        "bipartite matching of scipy.sparse.csgraph (Hopcroft-Karp) instead of Kuhn's recursion",
                        bodies=['''
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial import cKDTree

P, G = np.argwhere(pred), np.argwhere(gt)
if len(P) == 0 or len(G) == 0:
    return 0
pairs = cKDTree(P).sparse_distance_matrix(cKDTree(G), radius, output_type="coo_matrix")  # d <= radius
rows, cols = pairs.row, pairs.col
graph = csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(P), len(G)))
return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
''']),
    "wrong_strict_tolerance": dict(correct=False, why="d < radius instead of d <= radius (BSDS: d <= maxDist)",
                                   bodies=['''
P, G = np.argwhere(pred), np.argwhere(gt)
near = [[j for j, g in enumerate(G) if ((p - g) ** 2).sum() < radius * radius] for p in P]
mate = [-1] * len(G)

def augment(i, seen):
    for j in near[i]:
        if not seen[j]:
            seen[j] = True
            if mate[j] < 0 or augment(mate[j], seen):
                mate[j] = i
                return True
    return False

return sum(augment(i, [False] * len(G)) for i in range(len(P)))
''']),
    "wrong_greedy": dict(correct=False, why="nearest pairs first, no augmenting paths: a maximal matching, not a "
                         "maximum one", bodies=['''
P, G = np.argwhere(pred), np.argwhere(gt)
pairs = sorted((((p - g) ** 2).sum(), i, j) for i, p in enumerate(P) for j, g in enumerate(G)
               if ((p - g) ** 2).sum() <= radius * radius)
used_p, used_g = set(), set()
for _, i, j in pairs:
    if i not in used_p and j not in used_g:
        used_p.add(i)
        used_g.add(j)
return len(used_p)
''']),
    "wrong_not_one_to_one": dict(correct=False, why="counts the predicted pixels that have some GT pixel within the "
                                 "radius: GT pixels are reused", bodies=['''
P, G = np.argwhere(pred), np.argwhere(gt)
return sum(any(((p - g) ** 2).sum() <= radius * radius for g in G) for p in P)
''']),
}
