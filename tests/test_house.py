"""The shape of the house (README "Files"): the paper's components on top, the rest in four folders, imports
one way (top level -> folders, never back), no cycles, one job per file, no tracker references.

Every import counts, at module level or inside a function: a folder module that imported a top-level file
"only lazily" would still make the top level a dependency of the folder. The course kit (course/) and the
scripts in bench/ sit outside the graph: they are users of the project, not parts of it.
"""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 500
# the top level: the components the project was specified with, the model, and the user commands
TOP_LEVEL = ("clip_text", "encoders", "fusion", "decoder", "model", "losses", "datasets", "metrics",
             "train", "evaluate", "predict", "prepare")  # in the reading order (README "Reading order")
FOLDERS = ("related", "scoring", "edgedata", "util")  # the code folders, each named for its role
OTHER_ENTRIES = {"README.md", "requirements.txt", "requirements-dev.txt", "pytest.ini", "tests", "bench", "docs",
                 "course", "assets"}
# the paper's path: none of these imports a module that carries a mechanism from a related paper,
# except model.py, which builds the options it is configured with (DETR's `if args.masks:`)
PAPER_FILES = ("clip_text", "encoders", "fusion", "decoder", "losses")


def project_modules():
    """Dotted names of the project's modules: the top-level files and the modules of the code folders."""
    mods = sorted(f[:-3] for f in os.listdir(ROOT) if f.endswith(".py"))
    for d in FOLDERS:
        mods += sorted(f"{d}.{f[:-3]}" for f in os.listdir(os.path.join(ROOT, d))
                       if f.endswith(".py") and f != "__init__.py")
    return mods


def path_of(module):
    return os.path.join(ROOT, *module.split(".")) + ".py"


def module_imports(module, modules):
    """Project modules that `module` imports anywhere in its source (module level or inside functions)."""
    with open(path_of(module)) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from util import files`
    return found & set(modules) - {module}


def import_graph():
    modules = project_modules()
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


def test_module_imports_sees_lazy_and_from_package_imports(tmp_path, monkeypatch):
    """The graph counts `from util import files` as util.files, and an import inside a function."""
    (tmp_path / "util").mkdir()
    (tmp_path / "util" / "files.py").write_text("def f():\n    import model\n    return model\n")
    (tmp_path / "model.py").write_text("from util import files\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path))
    assert module_imports("util.files", ["model", "util.files"]) == {"model"}
    assert module_imports("model", ["model", "util.files"]) == {"util.files"}


def test_top_level_holds_the_paper_and_the_commands():
    entries = {e for e in os.listdir(ROOT) if not e.startswith(".") and e != "__pycache__"}
    py = {e[:-3] for e in entries if e.endswith(".py")}
    assert py == set(TOP_LEVEL), (f"top-level .py files: extra {sorted(py - set(TOP_LEVEL))}, "
                                  f"missing {sorted(set(TOP_LEVEL) - py)}")
    other = entries - {e + ".py" for e in TOP_LEVEL} - set(FOLDERS)
    ignored = {"runs", "data", "out", "edges"}  # .gitignore'd run and data folders a user may have
    assert other - ignored <= OTHER_ENTRIES, f"unexpected top-level entries: {sorted(other - ignored - OTHER_ENTRIES)}"
    assert "data" not in FOLDERS  # data/ is where the README puts the datasets
    for d in FOLDERS:
        with open(os.path.join(ROOT, d, "__init__.py")) as f:
            assert ast.get_docstring(ast.parse(f.read())), f"{d}/__init__.py must say what the folder holds"


def test_top_level_docstrings_give_the_reading_order():
    for i, m in enumerate(TOP_LEVEL):
        with open(path_of(m)) as f:
            doc = ast.get_docstring(ast.parse(f.read()))
        match = re.search(r"Reading order \(README \"Reading order\"\): (\d+) of (\d+); (next: (\w+)\.py)?", doc)
        assert match, f"{m}.py: its docstring does not say where it stands in the reading order"
        assert (int(match.group(1)), int(match.group(2))) == (i + 1, len(TOP_LEVEL)), f"{m}.py: {match.group(0)}"
        assert match.group(4) == (TOP_LEVEL[i + 1] if i + 1 < len(TOP_LEVEL) else None), f"{m}.py: {match.group(0)}"
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert "Reading order" in readme, "README.md: no 'Reading order' section"


def test_imports_run_one_way_top_to_folders():
    graph = import_graph()
    back = {m: sorted(d for d in deps if "." not in d) for m, deps in graph.items() if "." in m}
    back = {m: d for m, d in back.items() if d}
    assert not back, f"folder modules importing top-level files (imports run top -> folders only): {back}"


def test_no_import_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_no_sys_path_tricks_in_the_project():
    hits = []
    for m in project_modules():
        with open(path_of(m)) as f:
            hits += [f"{m}: {line.strip()}" for line in f if "sys.path" in line]
    assert not hits, f"sys.path changes in project modules: {hits}"


def test_scripts_sit_on_top():
    graph = import_graph()
    assert "evaluate" not in graph["train"], "train.py must not import evaluate.py (shared code lives below both)"
    for script in ("train", "evaluate", "predict", "prepare"):
        users = [m for m, deps in graph.items() if script in deps]
        assert not users, f"{script}.py is a script; {users} import it"
    assert "metrics" not in graph["datasets"], "datasets.py must not import metrics.py"


def test_paper_files_do_not_import_the_related_paper_options():
    graph = import_graph()
    for f in PAPER_FILES:
        related = sorted(d for d in graph[f] if d.startswith("related"))
        assert not related, f"{f}.py (the paper's path) imports {related}"


def test_every_file_is_readable_in_one_sitting():
    too_long = {}
    for m in project_modules():
        with open(path_of(m)) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            too_long[m] = n
    assert not too_long, f"files over {MAX_LINES} lines (one job per file): {too_long}"


def test_every_file_opens_with_a_docstring():
    for m in project_modules():
        with open(path_of(m)) as f:
            tree = ast.parse(f.read())
        assert ast.get_docstring(tree), f"{path_of(m)} has no opening docstring"


def test_no_backslash_continuations():
    hits = []
    for m in project_modules():
        with open(path_of(m)) as f:
            hits += [f"{m}:{i + 1}" for i, line in enumerate(f) if line.rstrip("\n").endswith("\\")]
    assert not hits, f"backslash continuations (use parentheses): {hits}"


def test_no_tracker_references_in_code_or_readme():
    pattern = re.compile(r"\bissues?\s*#?\d", re.IGNORECASE)
    files = [path_of(m) for m in project_modules()] + [os.path.join(ROOT, "README.md")]
    for d in ("bench", "docs", "course"):
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            files += [os.path.join(base, f) for f in names if f.endswith((".py", ".md"))]
    hits = []
    for f in files:
        with open(f) as fh:
            hits += [f"{f}:{i + 1}: {line.strip()}" for i, line in enumerate(fh) if pattern.search(line)]
    assert not hits, "tracker references a reader cannot open:\n" + "\n".join(hits)
