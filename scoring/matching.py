"""One-to-one matching of predicted and ground-truth edge pixels within a distance tolerance.

The benchmark of the paper (Sec. 4.1.3; SBD, SEAL, BSDS) counts a predicted edge pixel as
correct, and a GT edge pixel as recalled, when the two are paired in a ONE-TO-ONE matching
that only pairs pixels at Euclidean distance <= radius (BSDS `correspondPixels`, match.cc:
`maxDist * diagonal`, `d <= maxDist`). correspondPixels solves a min-cost assignment with
expensive outliers, which reaches the MAXIMUM number of pairs up to its random tie-breaking;
we compute that maximum exactly.

Read first: `max_matching_reference(pred, gt, radius)`, the definition in a few lines
(Kuhn's augmenting paths on the bipartite graph "pixel -- GT pixel within the radius").
It is far too slow for a benchmark (a 1000-pixel map at a 12-pixel tolerance takes seconds
to minutes), so metrics.py uses `ClassMatcher`, tested against it on random maps:

- candidate pairs are built once per class for every pixel that appears at any threshold
  (CSR rows, nearest GT first); pixels farther than the radius from every GT pixel are only
  counted, never matched;
- each threshold starts from the previous threshold's matching (maps grow as the threshold
  falls), fills it greedily (nearest pairs first, vectorised proposal rounds), then augments
  along vertex-disjoint alternating paths found by a multi-source breadth-first search until
  none exists (Berge: a matching without an augmenting path is maximum).
`count_thresholds` runs it over the nested maps of all thresholds of one class and returns the
benchmark's four counts per threshold (rows CNT_R, SUM_R, CNT_P, SUM_P).
"""
import math

import numpy as np

from edgedata.labels import disc_offsets
from scoring.counts import CNT_P, CNT_R, SUM_P, SUM_R
from scoring.thinning import run_starts, unique_sorted



def max_matching_reference(pred, gt, radius):
    """The definition: size of a maximum one-to-one matching between the edge pixels of the
    2-D bool maps `pred` and `gt`, pairing only pixels at distance <= radius (Kuhn, O(V E))."""
    # >>> assignment matching
    P, G = np.argwhere(pred), np.argwhere(gt)
    near = [[j for j, g in enumerate(G) if ((p - g) ** 2).sum() <= radius * radius] for p in P]
    mate = [-1] * len(G)  # mate[j]: the predicted pixel paired with GT pixel j

    def augment(i, seen):  # find an alternating path from predicted pixel i to a free GT pixel
        for j in near[i]:
            if not seen[j]:
                seen[j] = True
                if mate[j] < 0 or augment(mate[j], seen):
                    mate[j] = i
                    return True
        return False

    return sum(augment(i, [False] * len(G)) for i in range(len(P)))
    # <<< assignment matching


def _edges_of(indptr, rows):
    """CSR edge indices of `rows`: (position of the row in `rows` per edge, edge index)."""
    start, count = indptr[rows], indptr[rows + 1] - indptr[rows]
    rep = np.repeat(np.arange(rows.size), count)
    eidx = np.arange(count.sum()) + np.repeat(start - (np.cumsum(count) - count), count)
    return rep, eidx


class ClassMatcher:
    """Maximum one-to-one matching between the GT of one class and the predicted maps of
    all its thresholds. Coordinates are flat indices into the map padded by R pixels,
    so that neighbour look-ups never leave the array.

    Use: m = ClassMatcher(gt, radius); pos_t = m.to_flat(ys, xs) for each map;
    m.prepare(all pixels of all maps); then m.count(pos_t) from the highest threshold down."""

    def __init__(self, gt, radius):
        H, W = gt.shape
        self.R = R = int(math.floor(radius))
        self.Wp = W + 2 * R
        dy, dx = disc_offsets(radius)  # the disc of the tolerance, nearest first
        self.offs, self.offd2 = dy * self.Wp + dx, dy * dy + dx * dx  # as flat offsets, squared lengths
        gy, gx = np.nonzero(gt)
        self.gpos = (gy + R) * self.Wp + (gx + R)  # (nG,)
        self.gt_id = np.full((H + 2 * R) * self.Wp, -1, dtype=np.int32)
        self.gt_id[self.gpos] = np.arange(self.gpos.size, dtype=np.int32)
        self.near = np.zeros(self.gt_id.size, dtype=bool)  # within the tolerance of some GT pixel
        for chunk in np.array_split(self.gpos, max(1, self.gpos.size // 4096)):
            self.near[(chunk[:, None] + self.offs[None, :]).ravel()] = True

    def to_flat(self, ys, xs):
        return (ys + self.R) * self.Wp + (xs + self.R)

    def prepare(self, all_pos):
        """Candidate edges (CSR, nearest first per row) for every pixel that is near the GT
        in at least one threshold's map."""
        self.U = U = unique_sorted(all_pos[self.near[all_pos]])
        rows, gts, d2s = [], [], []
        for chunk in np.array_split(np.arange(U.size), max(1, U.size // 2048)):
            cand = self.gt_id[U[chunk][:, None] + self.offs[None, :]]  # (n, n_offsets)
            r, c = np.nonzero(cand >= 0)
            rows.append(chunk[r]), gts.append(cand[r, c]), d2s.append(self.offd2[c])
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        self.eg = np.concatenate(gts) if gts else np.zeros(0, np.int32)
        self.ed2 = np.concatenate(d2s) if d2s else np.zeros(0, np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=U.size))])
        self.mate_u = np.full(U.size, -1, dtype=np.int64)  # warm start carried across thresholds
        self.mate_g = np.full(self.gpos.size, -1, dtype=np.int64)

    def count(self, pos):
        """Maximum matching size between the GT and the predicted pixels `pos` (sorted flat)."""
        pos = pos[self.near[pos]]
        nodes = np.searchsorted(self.U, pos)
        present = np.zeros(self.U.size, dtype=bool)
        present[nodes] = True
        gone = np.flatnonzero(~present & (self.mate_u >= 0))  # pixels of the previous map that vanished
        self.mate_g[self.mate_u[gone]] = -1
        self.mate_u[gone] = -1
        self._greedy(nodes)
        self._augment(nodes)
        return int((self.mate_u[nodes] >= 0).sum())

    def _greedy(self, nodes):
        """Each free pixel proposes to its nearest free GT pixel; each GT pixel accepts the
        nearest proposer; repeat. Ends with a maximal (not yet maximum) matching."""
        free = nodes[self.mate_u[nodes] < 0]
        while free.size:
            rep, e = _edges_of(self.indptr, free)
            g = self.eg[e]
            ok = self.mate_g[g] < 0
            if not ok.any():
                return
            rep, e, g = rep[ok], e[ok], g[ok]
            first = np.flatnonzero(run_starts(rep))  # nearest free GT per pixel (rep is sorted)
            pu, pg, pd = free[rep[first]], g[first], self.ed2[e[first]]  # pu: the proposing pixels
            order = np.lexsort((pu, pd, pg))
            win = order[run_starts(pg[order])]  # nearest proposer per GT pixel
            self.mate_u[pu[win]] = pg[win]
            self.mate_g[pg[win]] = pu[win]
            free = pu[self.mate_u[pu] < 0]

    def _augment(self, nodes):
        """Augment along vertex-disjoint alternating paths from a multi-source BFS forest
        rooted at the free pixels, until no free GT pixel is reachable (then maximum)."""
        while True:
            roots = nodes[self.mate_u[nodes] < 0]
            roots = roots[self.indptr[roots + 1] > self.indptr[roots]]
            if roots.size == 0 or (self.mate_g >= 0).all():
                return
            parent = np.full(self.mate_g.size, -1, dtype=np.int64)  # GT pixel -> pixel that reached it
            seen = np.zeros(self.mate_g.size, dtype=bool)
            frontier, ends = roots, []
            while frontier.size:
                rep, e = _edges_of(self.indptr, frontier)
                g = self.eg[e]
                new = ~seen[g]
                g, rep = g[new], rep[new]
                if g.size == 0:
                    break
                order = np.argsort(g, kind="stable")
                first = order[run_starts(g[order])]  # first pixel reaching each GT
                g = g[first]
                parent[g] = frontier[rep[first]]
                seen[g] = True
                free = self.mate_g[g] < 0
                if free.any():
                    ends.append(g[free])
                frontier = self.mate_g[g[~free]]
            if not ends:
                return
            used = np.zeros(self.U.size, dtype=bool)
            for g_end in np.concatenate(ends).tolist():
                path, g = [], g_end
                while True:
                    u = int(parent[g])
                    if used[u]:
                        path = None
                        break
                    path.append((u, g))
                    g = int(self.mate_u[u])
                    if g < 0:
                        break
                if path is None:
                    continue
                for u, g in path:
                    used[u] = True
                    self.mate_u[u] = g
                    self.mate_g[g] = u


def match_count(pred, gt, radius):
    """Maximum one-to-one matching size between two 2-D bool maps (distance <= radius), fast."""
    m = ClassMatcher(np.asarray(gt, dtype=bool), radius)
    py, px = np.nonzero(pred)
    pos = m.to_flat(py, px)
    m.prepare(pos)
    return m.count(pos)


def count_thresholds(maps, g, radius, kill_inside=None):
    """Counts (4, n_t) of one class: `maps` = scoring.thinning.thin_thresholds' flat pixel lists (threshold order),
    g (H, W) bool GT, `kill_inside` (H, W) bool: the class's GT segment (sbd-original), whose
    predictions farther than `radius` from every GT pixel are dropped after thinning."""
    H, W = g.shape
    counts = np.zeros((4, len(maps)), dtype=np.int64)
    counts[SUM_R] = g.sum()
    pos = maps  # no GT: every prediction is a false positive
    if g.any():
        m = ClassMatcher(g, radius)
        pos = [m.to_flat(*np.divmod(p, W)) for p in maps]
        if kill_inside is not None:  # kill_internal_bdries: inside the object and beyond the tolerance
            kill = np.zeros(m.near.size, dtype=bool)
            kill[m.to_flat(*np.nonzero(kill_inside))] = True
            kill &= ~m.near
            pos = [q[~kill[q]] for q in pos]
        m.prepare(np.concatenate(pos))
        prev, prev_count = None, 0
        for i in range(len(maps) - 1, -1, -1):  # high to low threshold: maps grow, warm start holds
            same = prev is not None and pos[i].size == prev.size and np.array_equal(pos[i], prev)
            prev_count = prev_count if same else m.count(pos[i])
            counts[CNT_R, i] = counts[CNT_P, i] = prev_count
            prev = pos[i]
    counts[SUM_P] = [q.size for q in pos]
    return counts
