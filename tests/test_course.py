"""course/: the course kit grades what it should (docs/course.md).

For every assignment of course/assignments.py: the repository's own code scores 100% (`grade.py all` exits 0);
a student copy with that assignment removed fails, naming the assignment's NotImplementedError; the alternative
correct solution of course/variants/NAME.py passes and each wrong one fails. A student copy of all assignments
still imports every top-level module and holds no variants; the marker helpers, student_copy's refusals, the time
limit and the submissions table do what they say.

Fast: one grading worker (one torch import) runs every (assignment, repository) pair of the variants; the copies
are hard links except the files an assignment rewrites. An assignment whose checks or variants file does not
exist yet is skipped with the missing file's name.
"""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COURSE = os.path.join(ROOT, "course")


def read_module(path, name):
    """A course/ file that imports nothing of the kit (assignments.py, a variants file), loaded by its path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ASSIGNMENTS = read_module(os.path.join(COURSE, "assignments.py"), "course_assignments_for_tests").ASSIGNMENTS


def missing_file(name):
    """The kit file assignment `name` still lacks (its checks or its variants), or None."""
    for kind in ("checks", "variants"):
        path = os.path.join(COURSE, kind, f"{name}.py")
        if not os.path.isfile(path):
            return os.path.relpath(path, ROOT)
    return None


def variants_of(name):
    """The kit's variants of `name` and, prefixed `outside_`, the solutions written outside the kit
    (course/variants/outside/NAME.py)."""
    path = os.path.join(COURSE, "variants", f"{name}.py")
    found = read_module(path, f"course_variants_{name}").VARIANTS if os.path.isfile(path) else {}
    outside = os.path.join(COURSE, "variants", "outside", f"{name}.py")
    if found and os.path.isfile(outside):
        found = {**found, **{f"outside_{k}": {"why": "written outside the kit: " + k.replace("_", " "), **v}
                             for k, v in read_module(outside, f"course_outside_{name}").VARIANTS.items()}}
    return found


READY = [name for name in ASSIGNMENTS if missing_file(name) is None]
VARIANT_CASES = [pytest.param(name, variant, id=f"{name}-{variant}")
                 for name in ASSIGNMENTS for variant in (variants_of(name) or [None])]


def skip_if_missing(name):
    if missing_file(name):
        pytest.skip(f"{missing_file(name)} does not exist yet")


@pytest.fixture(scope="module")
def kit():
    """The kit's scripts, imported the way they import each other (course/ first on sys.path, as when run)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(COURSE)
        import assignments
        import grade
        import student_copy
        yield assignments, grade, student_copy


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    """Two subprocesses started first, running while the variants are graded: `python course/grade.py all` on the
    repository itself, and an import of every top-level module in a student copy of all assignments (made by
    student_copy.py's command line). finish(key) waits for one and returns (exit status, output)."""
    out = tmp_path_factory.mktemp("all") / "student"
    names = "all" if READY == list(ASSIGNMENTS) else ",".join(READY)  # `all` once every assignment is in
    copy = subprocess.run([sys.executable, os.path.join(COURSE, "student_copy.py"), "--out", str(out),
                           "--assignments", names or "none ready"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    modules = sorted(f[:-3] for f in os.listdir(out) if f.endswith(".py")) if copy.returncode == 0 else []
    commands = {"cli": ([sys.executable, os.path.join(COURSE, "grade.py"), "all"], ROOT)}
    if modules:
        commands["imports"] = ([sys.executable, "-c", f"import {', '.join(modules)}"], out)
    procs = {key: subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for key, (command, cwd) in commands.items()}
    done = {}

    def finish(key):
        if key not in done:
            output = procs[key].communicate(timeout=600)[0]
            done[key] = (procs[key].returncode, output)
        return done[key]

    yield dict(copy=copy, out=out, modules=modules, finish=finish)
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def graded(kit, background, tmp_path_factory):
    """{(name, "student" | variant): Result} for every ready assignment, all graded by one worker (while the
    background processes run); then three broken copies of fusion.py: one that does not parse, one that kills the
    grading process (a new worker takes the next job), one that hangs (a 3 s limit)."""
    _, grade, student_copy = kit
    base = tmp_path_factory.mktemp("graded")
    jobs, keys = [], []
    for name in READY:
        out = base / f"{name}-student"
        student_copy.make_student_copy(out, [name], repo=ROOT, link=True)
        jobs.append((name, out))
        keys.append((name, "student"))
        for variant, spec in variants_of(name).items():
            out = base / f"{name}-{variant}"
            student_copy.copy_repository(ROOT, out, link=True)
            student_copy.apply_bodies(out, name, spec["bodies"])
            jobs.append((name, out))
            keys.append((name, variant))
    timeouts = [120] * len(jobs)
    if "fusion" in READY:
        broken = base / "fusion-syntax-error"
        student_copy.copy_repository(ROOT, broken, link=True)
        student_copy.apply_bodies(broken, "fusion", "return f_I +")
        dies = base / "fusion-dies"
        student_copy.copy_repository(ROOT, dies, link=True)
        student_copy.apply_bodies(dies, "fusion", "import os\nos._exit(3)")
        hangs = base / "fusion-hangs"
        student_copy.copy_repository(ROOT, hangs, link=True)
        student_copy.apply_bodies(hangs, "fusion", "while True:\n    pass")
        jobs += [("fusion", broken), ("fusion", dies), ("fusion", hangs)]
        keys += [("fusion", "syntax_error"), ("fusion", "dies"), ("fusion", "hangs")]
        timeouts += [120, 120, 3]
    results = grade.run_jobs(jobs, timeouts)
    return dict(zip(keys, results))


def test_find_and_replace_regions(kit):
    assignments = kit[0]
    text = ("def f(x):\n    # >>> assignment a\n    y = x + 1\n    return y\n    # <<< assignment a\n\n\n"
            "class C:\n    def g(self):\n        # >>> assignment a\n        return 2\n        # <<< assignment a\n"
            "        # >>> assignment b\n        return 3\n        # <<< assignment b\n")
    assert assignments.find_regions(text, "a") == [(2, 5, "    "), (10, 12, "        ")]
    assert assignments.find_regions(text, "b") == [(13, 15, "        ")]
    new = assignments.replace_regions(text, "a", ["if x:\n    return 0\nreturn 1", None])
    assert new.splitlines()[1:7] == ["    # >>> assignment a", "    if x:", "        return 0", "    return 1",
                                     "    # <<< assignment a", ""]
    assert new.splitlines()[8:] == text.splitlines()[7:]  # region 2, b and the rest untouched
    assert assignments.region_bodies(new, "a")[0] == "if x:\n    return 0\nreturn 1"
    namespace = {}
    exec(new, namespace)
    assert namespace["f"](1) == 0 and namespace["C"]().g() == 2
    with pytest.raises(ValueError, match="2 replacement bodies for 1 regions"):
        assignments.replace_regions(text, "b", ["x", "y"])
    for broken, message in ((text.replace("    # <<< assignment a\n\n", "\n"), "inside the region"),
                            (text + "    # >>> assignment a\n", "never closed"),
                            ("# <<< assignment a\n", "no opening"),
                            ("def f():\n    # >>> assignment a\n    pass\n# <<< assignment a\n", "indented")):
        with pytest.raises(ValueError, match=message):
            assignments.find_regions(broken, "a")


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_markers_and_variants_fit(kit, name):
    """Each listed file holds a region; every variant has one body per region; the kit's regions are the body
    of functions (so that the student copy still imports)."""
    skip_if_missing(name)
    assignments = kit[0]
    n = 0
    for rel in ASSIGNMENTS[name]["files"]:
        with open(os.path.join(ROOT, rel)) as f:
            n += len(assignments.find_regions(f.read(), name))
    assert n > 0, f"{ASSIGNMENTS[name]['files']} hold no region of {name}"
    for variant, spec in variants_of(name).items():
        bodies = len(spec["bodies"])
        assert bodies == n, f"course/variants/{name}.py: {variant} has {bodies} bodies for {n} regions"
        assert spec["why"] and isinstance(spec["correct"], bool)
    kinds = [spec["correct"] for spec in variants_of(name).values()]
    assert kinds.count(True) >= 1 and kinds.count(False) >= 3, f"{name}: 1 correct and 3 wrong variants wanted"


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_own_repository_scores_full_marks(graded, background, name):
    skip_if_missing(name)
    status, out = background["finish"]("cli")
    section = re.search(rf"^== {name} \(.*?\) ==\n(.*?)^score: (\d+)/(\d+)$", out, re.S | re.M)
    assert section, f"no section for {name} in grade.py all's output:\n{out[-3000:]}"
    assert section.group(2) == section.group(3) and int(section.group(3)) > 0, section.group(0)
    assert "FAIL" not in section.group(1)
    assert all(line.startswith("PASS check_") and ": expected " in line
               for line in section.group(1).splitlines()), section.group(1)
    assert status == 0, out[-3000:]


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_student_copy_fails_with_the_assignment_message(graded, name):
    skip_if_missing(name)
    result = graded[(name, "student")]
    message = f"NotImplementedError: assignment {name}: {ASSIGNMENTS[name]['summary']}; see docs/course.md"
    assert result.total > 0 and not result.ok, str(result)
    assert any(message in line for line in result.lines if line.startswith("FAIL ")), str(result)


@pytest.mark.parametrize("name, variant", VARIANT_CASES)
def test_variant_verdict(graded, name, variant):
    skip_if_missing(name)
    spec = variants_of(name)[variant]
    result = graded[(name, variant)]
    if spec["correct"]:
        assert result.ok, f"{variant} ({spec['why']}) is correct but did not pass:\n{result}"
    else:
        assert result.total > 0 and not result.ok, f"{variant} ({spec['why']}) is wrong but passed:\n{result}"
        failed = [line for line in result.lines if line.startswith("FAIL ")]
        assert all("; " in line or "Error" in line for line in failed), f"a failure without a hint:\n{result}"


def test_syntax_error_crash_and_hang_are_reported(graded):
    if "fusion" not in READY:
        pytest.skip(missing_file("fusion"))
    broken = graded[("fusion", "syntax_error")]
    assert broken.passed == 0 and all("SyntaxError" in line and "fusion.py:" in line
                                      for line in broken.lines if line.startswith("FAIL")), str(broken)
    dies = graded[("fusion", "dies")]
    assert dies.total == broken.total and dies.passed == 0, str(dies)
    assert "the grading process died (exit status 3)" in dies.lines[0] and "not run" in dies.lines[1], str(dies)
    hangs = graded[("fusion", "hangs")]
    timed_out = [line for line in hangs.lines if "timed out" in line]
    assert len(timed_out) == 1 and "3 s" in timed_out[0], str(hangs)
    assert hangs.passed == 0 and all("not run" in line for line in hangs.lines[1:]), str(hangs)


def test_student_copy_of_all_imports_and_holds_no_solutions(kit, graded, background):
    if not READY:  # a student copy of the kit: no variants
        pytest.skip("no assignment has its checks and variants (course/variants/ is not in a student copy)")
    assignments = kit[0]
    copy, out = background["copy"], background["out"]
    assert copy.returncode == 0, copy.stdout + copy.stderr
    assert not (out / "course" / "variants").exists() and not (out / ".git").exists()
    for name in READY:
        for rel in ASSIGNMENTS[name]["files"]:
            text = (out / rel).read_text()
            n = len(assignments.find_regions(text, name))
            assert n and assignments.region_bodies(text, name) == [assignments.not_implemented_body(name)] * n
    assert {"train", "evaluate", "clip_text", "fusion"} <= set(background["modules"])
    status, output = background["finish"]("imports")
    assert status == 0, output[-2000:]


def test_student_copy_refuses_bad_requests(kit, tmp_path):
    _, _, student_copy = kit
    with pytest.raises(ValueError, match="unknown assignment nope; valid: tokenizer, "):
        student_copy.make_student_copy(tmp_path / "a", ["nope"], repo=ROOT)
    with pytest.raises(ValueError, match="inside the repository"):
        student_copy.make_student_copy(os.path.join(ROOT, "runs", "student"), ["fusion"], repo=ROOT)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        student_copy.make_student_copy(tmp_path / "full", ["fusion"], repo=ROOT)
    proc = subprocess.run([sys.executable, os.path.join(COURSE, "student_copy.py"), "--out", str(tmp_path / "b"),
                           "--assignments", "fusion,nope"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "unknown assignment nope" in proc.stderr and not (tmp_path / "b").exists()


def test_submissions_table(kit, tmp_path, monkeypatch, capsys):
    """--submissions: one row per sub-folder, passed/total per assignment and in total (the grading itself is
    stubbed here; the tests above run the real one)."""
    _, grade, _ = kit
    for student in ("bob", "alice"):
        (tmp_path / student).mkdir()
    (tmp_path / "notes.txt").write_text("not a submission")

    def fake_run_jobs(jobs, timeout):
        results = []
        for name, repo in jobs:
            result = grade.Result(name, repo)
            for i in range(3):
                result.add(f"{'PASS' if os.path.basename(repo) == 'alice' or i == 0 else 'FAIL'} check_{i}: x")
            results.append(result)
        return results

    monkeypatch.setattr(grade, "run_jobs", fake_run_jobs)
    names = [n for n in ASSIGNMENTS if os.path.isfile(grade.checks_file(n))][:2]
    if len(names) < 2:
        pytest.skip("fewer than two assignments have checks yet")
    grade.submissions(names, str(tmp_path), 10)
    rows = [line.split() for line in capsys.readouterr().out.strip().splitlines()]
    assert rows == [["submission", *names, "total"], ["alice", "3/3", "3/3", "6/6"], ["bob", "1/3", "1/3", "2/6"]]
