"""The shape of the house (README "Files"): imports run one way, one job per file, no tracker references.

Module-level imports only: a script's `if __name__ == "__main__":` block (datasets.py's shim to prepare.py)
and imports inside functions that load an optional dependency are not part of the graph a reader follows.
"""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 500
# the paper's path: none of these imports a module that carries a mechanism from a related paper,
# except model.py, which builds the options it is configured with (DETR's `if args.masks:`)
PAPER_FILES = ("clip_text.py", "encoders.py", "fusion.py", "decoder.py", "losses.py")


def top_level_modules():
    return sorted(f[:-3] for f in os.listdir(ROOT) if f.endswith(".py"))


def module_imports(name, modules):
    """Project modules imported at module level by `name` (not inside functions or the __main__ block)."""
    with open(os.path.join(ROOT, name + ".py")) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in tree.body:  # module level only
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Try):  # `try: import x` at module level counts too
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    found |= {a.name.split(".")[0] for a in sub.names}
                elif isinstance(sub, ast.ImportFrom) and sub.module:
                    found.add(sub.module.split(".")[0])
    return found & set(modules) - {name}


def import_graph():
    modules = top_level_modules()
    return {m: module_imports(m, modules) for m in modules}


def find_cycle(graph):
    """A list of modules forming an import cycle, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                cycle = visit(d)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            if cycle:
                return cycle
    return None


def test_find_cycle_sees_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_among_top_level_modules():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_scripts_sit_on_top():
    graph = import_graph()
    assert "evaluate" not in graph["train"], "train.py must not import evaluate.py (shared code lives below both)"
    for script in ("train", "evaluate", "predict", "prepare"):
        if script in graph:
            users = [m for m, deps in graph.items() if script in deps]
            assert not users, f"{script}.py is a script; {users} import it"
    assert "metrics" not in graph["datasets"], "datasets.py must not import metrics.py"


def test_paper_files_do_not_import_the_related_paper_options():
    graph = import_graph()
    for f in PAPER_FILES:
        related = sorted(d for d in graph[f[:-3]] if d.startswith("related_"))
        assert not related, f"{f} (the paper's path) imports {related}"


def test_every_file_is_readable_in_one_sitting():
    too_long = {}
    for m in top_level_modules():
        with open(os.path.join(ROOT, m + ".py")) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            too_long[m + ".py"] = n
    assert not too_long, f"files over {MAX_LINES} lines (one job per file): {too_long}"


def test_every_file_opens_with_a_docstring():
    for m in top_level_modules():
        with open(os.path.join(ROOT, m + ".py")) as f:
            tree = ast.parse(f.read())
        assert ast.get_docstring(tree), f"{m}.py has no opening docstring"


def test_no_tracker_references_in_code_or_readme():
    pattern = re.compile(r"\bissues?\s*#?\d", re.IGNORECASE)
    files = [m + ".py" for m in top_level_modules()] + ["README.md"]
    files += [os.path.join("bench", f) for f in os.listdir(os.path.join(ROOT, "bench")) if f.endswith(".py")]
    hits = []
    for f in files:
        with open(os.path.join(ROOT, f)) as fh:
            hits += [f"{f}:{i + 1}: {line.strip()}" for i, line in enumerate(fh) if pattern.search(line)]
    assert not hits, "tracker references a reader cannot open:\n" + "\n".join(hits)
