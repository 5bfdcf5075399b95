"""The course kit's assignments: which regions of the project's source a student writes, and the marker helpers.

Each assignment is a piece of the paper's pipeline (Language-Driven Semantic Edge Detection, Yu, Deng, Zhang 2025)
that a student writes again and has graded by behaviour (course/grade.py, course/checks/NAME.py). Its solution
sits in the project's source between two comment lines at the indentation of the code they enclose:

    # >>> assignment NAME
    ...solution lines...
    # <<< assignment NAME

An assignment may have several regions, in one or several files; they are numbered in file order (the files in
the order of `files` below, then top to bottom). course/student_copy.py replaces each region's inner lines by a
`raise NotImplementedError(...)`; course/variants/NAME.py replaces them by other solutions, right or wrong, to
test the checks. The markers are comments: the project behaves the same with or without them.
docs/course.md is the student's text for every assignment; its instructor's page gives the order and the times.
"""
import re
import textwrap

# In the course order. files: paths relative to the repository root; summary: one line (it ends up in the
# student copy's NotImplementedError); minutes: expected time; concept: what it teaches; reading: where to read.
ASSIGNMENTS = {
    "tokenizer": dict(
        files=["clip_text.py"],
        summary="CLIP's byte-level BPE: SimpleTokenizer.bpe (merges in rank order) and SimpleTokenizer.encode "
                "(text -> token ids)",
        minutes=60,
        concept="byte-level byte-pair encoding: UTF-8 bytes as symbols, end-of-word marks, merges by rank",
        reading="Sec. 3.1.2 (class names embedded by CLIP's text encoder); CLIP (Radford et al. 2021) Sec. 2.4; "
                "Sennrich et al. 2016 (BPE)"),
    "text_transformer": dict(
        files=["clip_text.py"],
        summary="CLIP's text transformer: causal self-attention, pooling at the end token, text projection",
        minutes=75,
        concept="causal multi-head self-attention and sequence pooling at the end token",
        reading="Sec. 3.1.2 (frozen text encoder E_T, f_T = E_T(T)); CLIP (Radford et al. 2021) Sec. 2.4; "
                "Vaswani et al. 2017 Sec. 3.2"),
    "fusion": dict(
        files=["fusion.py"],
        summary="the cross-modal fusion F, `product`: Eq. (3-3)-(3-5) in ChannelFusion.forward",
        minutes=45,
        concept="text-guided channel recalibration (squeeze-and-excitation with a text branch)",
        reading="Sec. 3.2, Eq. (3-3)-(3-5); SENet (Hu et al. 2018) Sec. 3"),
    "decoder": dict(
        files=["decoder.py"],
        summary="one refinement level (RefineLevel.combine) and the refinement path (RefineDecoder.forward)",
        minutes=45,
        concept="top-down refinement: smooth, combine with the skip feature, upsample",
        reading="Sec. 3.1.3; SharpMask (Pinheiro et al. 2016), its refinement module"),
    "loss": dict(
        files=["losses.py"],
        summary="CASENet's reweighted multi-label loss with ignore pixels (reweighted_bce)",
        minutes=40,
        concept="class-balanced multi-label binary cross-entropy on logits, ignore masks",
        reading="Sec. 4.1.2 (training; the paper names no loss: we use CASENet's, as SEAL and DFF do); "
                "CASENet (Yu et al. 2017), its multi-label loss with the weight beta"),
    "seal_edges": dict(
        files=["edgedata/labels.py"],
        summary="SEAL's mask-to-edge rule in edge_bits (an edge of class k where a pixel within radius r differs "
                "in k's map; out-of-image neighbours skipped, pairs with ignored pixels dropped)",
        minutes=45,
        concept="edge ground truth from segmentation masks: a Euclidean disc of neighbours, image borders, "
                "ignore labels, category vs instance-sensitive edges, vectorised as shifted comparisons",
        reading="Sec. 4.1.1; SEAL (Yu et al. ECCV 2018) seg2edge.m; DESIGN.md 'Data formats'"),
    "thinning": dict(
        files=["scoring/thinning.py"],
        summary="the deletion tables of MATLAB's bwmorph 'thin' in _thin_lut (Lam-Lee-Suen conditions G1, G2, "
                "G3 / G3' for each 8-neighbourhood)",
        minutes=50,
        concept="parallel thinning: crossing number (8-connectivity kept), end points kept, two subiterations "
                "that peel opposite sides",
        reading="Sec. 4.1.3; Lam, Lee, Suen 1992 (IEEE TPAMI 14(9), p. 879)"),
    "matching": dict(
        files=["scoring/matching.py"],
        summary="max_matching_reference: the size of a maximum one-to-one matching of predicted and ground-truth "
                "edge pixels at distance <= radius",
        minutes=60,
        concept="maximum bipartite matching by augmenting paths; a Euclidean tolerance with <=",
        reading="Sec. 4.1.3; Martin, Fowlkes, Malik 2004 (BSDS correspondPixels); Kuhn 1955"),
    "ods": dict(
        files=["scoring/counts.py", "metrics.py"],
        summary="recall_precision, f_measure (scoring/counts.py); ods_interpolated, area_pr and the OIS lines "
                "of EdgeBenchmark.add_counts (metrics.py)",
        minutes=60,
        concept="precision, recall and F over thresholds: ODS (dataset-best threshold, interpolated), OIS "
                "(per-image best threshold), AP (BSDS Area_PR)",
        reading="Sec. 4.1.3; BSDS / SEAL collect_eval_bdry.m"),
}

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# >>> assignment (?P<name>\S+)[ \t]*$")
END = re.compile(r"^(?P<indent>[ \t]*)# <<< assignment (?P<name>\S+)[ \t]*$")


def find_regions(text, name):
    """The regions of assignment `name` in `text`: a list of (start_line, end_line, indent), the 1-based line
    numbers of the `# >>>` and `# <<<` marker lines and the markers' indentation. Raises ValueError on a marker
    without its partner, regions inside regions, or a closing marker at another indentation."""
    regions, open_at = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin and begin["name"] == name:
            if open_at is not None:
                raise ValueError(f"assignment {name}: marker at line {number} opens a region inside the region "
                                 f"opened at line {open_at[0]}; close it first with '# <<< assignment {name}'")
            open_at = (number, begin["indent"])
        elif end and end["name"] == name:
            if open_at is None:
                raise ValueError(f"assignment {name}: closing marker at line {number} has no opening "
                                 f"'# >>> assignment {name}' above it")
            if end["indent"] != open_at[1]:
                raise ValueError(f"assignment {name}: the markers at lines {open_at[0]} and {number} are indented "
                                 "differently; put both at the indentation of the code they enclose")
            regions.append((open_at[0], number, open_at[1]))
            open_at = None
    if open_at is not None:
        raise ValueError(f"assignment {name}: the region opened at line {open_at[0]} is never closed; add "
                         f"'# <<< assignment {name}' after its last line")
    return regions


def replace_regions(text, name, bodies):
    """`text` with the inner lines of region i of assignment `name` replaced by bodies[i] (given dedented; it is
    re-indented to the marker's indentation; None keeps region i as it is). The marker lines themselves are kept."""
    regions = find_regions(text, name)
    if len(bodies) != len(regions):
        raise ValueError(f"assignment {name}: {len(bodies)} replacement bodies for {len(regions)} regions")
    lines = text.splitlines(keepends=True)
    for (start, end, indent), body in reversed(list(zip(regions, bodies))):  # from the bottom: numbers stay valid
        if body is None:
            continue
        body = textwrap.dedent(body).strip("\n")
        new = [(indent + line if line.strip() else "") + "\n" for line in body.split("\n")]
        lines[start:end - 1] = new  # lines start+1 .. end-1 (1-based) are the region's inner lines
    return "".join(lines)


def region_bodies(text, name):
    """The dedented inner text of each region of `name`, in order (the solution as it stands)."""
    lines = text.splitlines()
    return [textwrap.dedent("\n".join(lines[start:end - 1])) for start, end, _ in find_regions(text, name)]


def not_implemented_body(name):
    """What the student copy puts in each region of assignment `name`."""
    message = f"assignment {name}: {ASSIGNMENTS[name]['summary']}; see docs/course.md"
    return f"raise NotImplementedError({message!r})"


def check_names(names):
    """'all' or a list of names -> the list of assignment names; an unknown name raises ValueError listing them."""
    names = list(ASSIGNMENTS) if names in ("all", ["all"]) else list(names)
    unknown = [n for n in names if n not in ASSIGNMENTS]
    if unknown or not names:
        raise ValueError(f"unknown assignment {', '.join(unknown) or '(none given)'}; valid: "
                         f"{', '.join(ASSIGNMENTS)} or all")
    return names
