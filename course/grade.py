"""Grade a student's implementation of an assignment by its behaviour.

    python course/grade.py NAME [--repo DIR] [--timeout S]      one assignment (NAME in course/assignments.py)
    python course/grade.py all [--repo DIR]                      every assignment, in the course order
    python course/grade.py all --submissions FOLDER              every sub-folder of FOLDER (one student's
                                                                 repository each): a table (instructor use)

The checks of NAME are the functions `check_<what>()` of course/checks/NAME.py, run in definition order. They
always come from this kit (the repository that holds this script), never from DIR: the student's copy of them is
not read. They run in a fresh Python process with DIR first on sys.path and DIR as the working directory, so that
`import fusion` there imports the student's fusion.py. A check returns "expected X, got Y" or raises
AssertionError("expected X, got Y; <hint>"); one line per check is printed:

    PASS check_name: <its docstring>: expected ..., got ...
    FAIL check_name: <its docstring>: <message>   (another exception: its type, message and where it was raised)

then `score: passed/total`; the exit status is 0 only when every check passes. What the student's code prints
during a failing check follows its line, indented with `|`. A check that hangs is stopped when the assignment
has run for --timeout seconds and reported, with the checks not run. docs/course.md explains the assignments.
"""
import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import traceback

from assignments import ASSIGNMENTS, check_names

KIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository that holds the kit
COURSE = os.path.join(KIT, "course")
CHECKS = os.path.join(COURSE, "checks")
DEFAULT_TIMEOUT = 120  # seconds for all the checks of one assignment
MAX_OUTPUT_LINES = 20  # of a failing check's printed output


def checks_file(name):
    return os.path.join(CHECKS, f"{name}.py")


def list_checks(name):
    """[(function name, its docstring's first paragraph on one line)] of course/checks/NAME.py in definition order,
    read without importing the file (its imports need the student's repository)."""
    with open(checks_file(name)) as f:
        tree = ast.parse(f.read())
    return [(node.name, " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split()).rstrip("."))
            for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")]


class Result:
    """The graded checks of one assignment on one repository."""

    def __init__(self, name, repo):
        self.name, self.repo, self.lines, self.passed, self.total = name, repo, [], 0, 0

    def add(self, line):
        self.lines.append(line)
        if line.startswith(("PASS ", "FAIL ")):
            self.total += 1
            self.passed += line.startswith("PASS ")

    @property
    def ok(self):
        return self.total > 0 and self.passed == self.total

    def __str__(self):
        return "\n".join(self.lines + [f"score: {self.passed}/{self.total}"])


# ----------------------------------------------------------------------------- the parent: runs workers

def run_jobs(jobs, timeout=DEFAULT_TIMEOUT, echo=None, results=None):
    """Grade every (name, repo) of `jobs` in ONE worker process (one torch import for all of them), restarting it
    after a job that hangs or kills it. timeout: seconds per job, or a list with one per job. echo(index, line):
    called with each result line of job `index` as it comes, and with None when the job is over.
    Returns a list of Result, one per job."""
    jobs = [(name, os.path.realpath(repo)) for name, repo in jobs]
    results = results if results is not None else [Result(name, repo) for name, repo in jobs]
    timeouts = list(timeout) if isinstance(timeout, (list, tuple)) else [timeout] * len(jobs)
    echo = echo or (lambda index, line: None)
    start = 0
    while start < len(jobs):
        start = run_worker(jobs, start, results, timeouts, echo)
    return results


def run_worker(jobs, start, results, timeouts, echo):
    """Run jobs[start:] in one worker until they finish, or until one hangs or the worker dies; that job's
    unreported checks are reported as failures. Returns the index of the first job not run."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(jobs[start:])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=jobs[start][1], env=env,
                            start_new_session=True)  # its own process group: a timeout kills what it started
    lines, errors = queue.Queue(), []
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    job, deadline, current, next_job = None, None, None, start
    while True:
        try:
            line = lines.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except queue.Empty:  # the job ran past its time limit
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            message = (f"timed out: the checks of {results[job].name} ran for more than {timeouts[job]:g} s "
                       "(an endless loop? a very slow implementation?)")
            fail_rest(results, job, current, message, echo)
            return job + 1
        if line is None:  # the worker ended
            proc.wait()
            if job is None and (proc.returncode == 0 or next_job == len(jobs)):
                return len(jobs)
            job = next_job if job is None else job  # it died between two jobs, or inside one
            tail = " ".join("".join(errors).strip().splitlines()[-3:])[-500:]
            fail_rest(results, job, current, f"the grading process died (exit status {proc.returncode}) {tail}"
                      .strip(), echo)
            return job + 1
        if line.startswith("@@job "):
            job, current = start + int(line.split()[1]), None
            deadline = time.monotonic() + timeouts[job]
        elif line.startswith("@@check "):
            current = line.split()[1]
        elif line.startswith("@@end "):
            echo(job, None)
            job, deadline, current, next_job = None, None, None, job + 1
        elif job is not None:
            results[job].add(line)
            if line.startswith(("PASS ", "FAIL ")):
                current = None
            echo(job, line)


def fail_rest(results, job, current, message, echo):
    """Report the check of job `job` that was running (current; None: the first one not reported) with
    `message`, and the ones after it as not run."""
    result = results[job]
    done = {line.split()[1].rstrip(":") for line in result.lines if line.startswith(("PASS ", "FAIL "))}
    for fn, doc in list_checks(result.name):
        if fn in done:
            continue
        current = current or fn
        line = f"FAIL {fn}: {doc}: " + (message if fn == current else "not run (stopped at an earlier check)")
        result.add(line)
        echo(job, line)
    echo(job, None)


# ----------------------------------------------------------------------------- the worker: runs the checks

def worker(jobs):
    """Run the checks of each (name, repo) job, printing the protocol lines the parent reads."""
    import torch  # noqa: F401  every check uses it: imported before the first job's clock starts
    emit = sys.__stdout__
    repos = {os.path.realpath(repo) for _, repo in jobs}
    base_path = [p for p in sys.path[1:] if p and os.path.realpath(p) not in (KIT, COURSE)]  # not the kit itself
    for i, (name, repo) in enumerate(jobs):
        print(f"@@job {i}", file=emit, flush=True)
        forget_modules(repos)
        sys.path[:] = [repo] + base_path
        os.chdir(repo)
        importlib.invalidate_caches()
        checks = list_checks(name)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                load_module("checklib", os.path.join(CHECKS, "checklib.py"))
                module = load_module(f"checks_{name}", checks_file(name))
        except BaseException as e:  # the student's module does not import (SyntaxError, ...): every check fails
            if isinstance(e, KeyboardInterrupt):
                raise
            reason = f"the checks could not import the repository's code: {describe(e, repo)}"
            for fn, doc in checks:
                print(f"FAIL {fn}: {doc}: {reason}", file=emit, flush=True)
            print(f"@@end {i}", file=emit, flush=True)
            continue
        for fn, doc in checks:
            print(f"@@check {fn}", file=emit, flush=True)
            reseed()
            captured = io.StringIO()
            try:
                with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                    detail = getattr(module, fn)()
                line = f"PASS {fn}: {doc}: {one_line(detail)}"
            except AssertionError as e:
                line = f"FAIL {fn}: {doc}: {one_line(e) or 'assertion failed'}"
            except BaseException as e:  # the student's code raised (NotImplementedError, a shape error, ...)
                if isinstance(e, KeyboardInterrupt):
                    raise
                line = f"FAIL {fn}: {doc}: {describe(e, repo)}"
            print(line, file=emit, flush=True)
            if line.startswith("FAIL") and captured.getvalue().strip():
                printed = captured.getvalue().rstrip().splitlines()
                for text in printed[-MAX_OUTPUT_LINES:]:
                    print(f"    | {text}", file=emit, flush=True)
        print(f"@@end {i}", file=emit, flush=True)


def forget_modules(repos):
    """Drop every imported module that comes from one of the graded repositories (and the loaded checks), so
    that the next job imports its own repository's files. Module paths start with the sys.path entry they were
    found under, the repository's real path: a prefix test suffices (no file-system calls per module)."""
    inside, kit = tuple(r + os.sep for r in repos), COURSE + os.sep
    for key, module in list(sys.modules.items()):
        places = module_places(module)
        if (any(p.startswith(inside) and not p.startswith(kit) for p in places) or key == "checklib"
                or key.startswith("checks_")):
            del sys.modules[key]


def module_places(module):
    """The file and package folders of a module (none for built-ins; odd modules are skipped)."""
    try:
        places = [getattr(module, "__file__", None)] + list(getattr(module, "__path__", None) or [])
    except Exception:  # a module whose attributes cannot be read: not one of the repository's
        return []
    return [p for p in places if isinstance(p, str) and p]


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reseed():
    """The same random state before every check (the checks seed what they draw; this covers the rest)."""
    random.seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


def one_line(value):
    return " ".join(str(value if value is not None else "").split())


def describe(e, repo):
    """'Type: message (at file:line in function)', the place being the innermost frame in the student's code
    (in the graded repository, outside the kit's course/ folder)."""
    frames = traceback.extract_tb(e.__traceback__)
    if isinstance(e, SyntaxError) and e.filename:
        frames.append(traceback.FrameSummary(e.filename, e.lineno or 0, "<module>"))
    where = [f for f in frames if f.filename.startswith(repo + os.sep) and not f.filename.startswith(COURSE + os.sep)]
    place = ""
    if where:
        place = f" (at {os.path.relpath(where[-1].filename, repo)}:{where[-1].lineno} in {where[-1].name})"
    return f"{type(e).__name__}: {one_line(e)}{place}"


# ----------------------------------------------------------------------------- the commands

def grade(names, repo, timeout, echo=print):
    """Grade `names` on `repo` in one worker, printing as it goes; returns {name: Result, or None when the kit
    has no checks file for it yet}."""
    available = [n for n in names if os.path.isfile(checks_file(n))]
    if len(names) == 1 and not available:
        raise ValueError(f"no checks for assignment {names[0]}: {os.path.relpath(checks_file(names[0]), KIT)} "
                         "does not exist in this kit")
    for name in names:
        if name not in available:
            echo(f"SKIP {name}: {os.path.relpath(checks_file(name), KIT)} does not exist yet")

    started = set()

    def show(index, line):
        if index not in started:  # the first line of an assignment: its header first
            started.add(index)
            echo(f"== {available[index]} ({', '.join(ASSIGNMENTS[available[index]]['files'])}) ==")
        echo(line if line is not None else f"score: {results[index].passed}/{results[index].total}")

    results = [Result(n, os.path.realpath(repo)) for n in available]
    run_jobs([(n, repo) for n in available], timeout, show, results)
    by_name = dict.fromkeys(names)
    by_name.update(zip(available, results))
    return by_name


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course/grade.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help=f"an assignment ({', '.join(ASSIGNMENTS)}) or all")
    parser.add_argument("--repo", default=KIT, help="the student's repository (default: the one holding this kit)")
    parser.add_argument("--submissions", help="a folder with one student repository per sub-folder: grade each "
                                              "and print a table")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds for the checks of one assignment before they are stopped (default 120)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: the process that runs the checks
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    if not args.name:
        parser.error("give an assignment name or all")
    try:
        names = check_names(args.name if args.name == "all" else [args.name])
        if args.submissions:
            return submissions(names, args.submissions, args.timeout)
        if not os.path.isdir(args.repo):
            raise ValueError(f"--repo {args.repo} is not a folder; give the student's repository")
        results = grade(names, args.repo, args.timeout)
    except ValueError as e:
        sys.exit(f"course/grade.py: {e}")
    graded = [r for r in results.values() if r is not None]
    if len(names) > 1:
        print(f"total: {sum(r.passed for r in graded)}/{sum(r.total for r in graded)}; complete: "
              f"{', '.join(r.name for r in graded if r.ok) or 'none'}")
    sys.exit(0 if graded and all(r.ok for r in graded) else 1)


def submissions(names, folder, timeout):
    """Grade every sub-folder of `folder` (each in its own worker: students do not share a process) and print
    one row per submission: passed/total per assignment, and the total."""
    if not os.path.isdir(folder):
        raise ValueError(f"--submissions {folder} is not a folder; give the folder that holds one repository per "
                         "student")
    students = sorted(d for d in os.listdir(folder)
                      if os.path.isdir(os.path.join(folder, d)) and not d.startswith("."))
    if not students:
        raise ValueError(f"--submissions {folder} has no sub-folders; put each student's repository in its own")
    names = [n for n in names if os.path.isfile(checks_file(n))]
    rows = []
    for student in students:
        print(f"grading {student} ...", file=sys.stderr, flush=True)
        results = run_jobs([(n, os.path.join(folder, student)) for n in names], timeout)
        rows.append([student] + [f"{r.passed}/{r.total}" for r in results]
                    + [f"{sum(r.passed for r in results)}/{sum(r.total for r in results)}"])
    header = ["submission"] + names + ["total"]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the output was piped into a reader that stopped (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        sys.exit(1)
