"""Make the students' copy of the repository: the chosen assignments' solutions replaced by NotImplementedError.

    python course/student_copy.py --out DIR --assignments fusion,loss      (or --assignments all)

Copies the repository that holds this script (git-tracked files and untracked files git does not ignore; no
.git, no runs/, and not course/variants/, which holds alternative solutions) to DIR, then replaces the inner
lines of every region `# >>> assignment NAME` .. `# <<< assignment NAME` of each chosen assignment by
`raise NotImplementedError("assignment NAME: <summary>; see docs/course.md")` (course/assignments.py).
The regions are function bodies, so every module still imports; only what calls a removed body fails.
The instructor's page of docs/course.md says how to hand the copy out and grade it (course/grade.py).
"""
import argparse
import os
import shutil
import subprocess
import sys

from assignments import ASSIGNMENTS, check_names, find_regions, not_implemented_body, replace_regions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEFT_OUT = ("runs", ".git", os.path.join("course", "variants"))  # never copied (variants: the kit's solutions)


def repository_files(repo):
    """Relative paths of the files to copy: git-tracked plus untracked-not-ignored; without git (a copy made by
    this script), every file except caches."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                             capture_output=True, check=True).stdout.decode()
        paths = sorted(set(p for p in out.split("\0") if p))
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for root, dirs, names in os.walk(repo):
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".pytest_cache"))
            paths += [os.path.relpath(os.path.join(root, n), repo) for n in sorted(names) if not n.endswith(".pyc")]
    return [p for p in paths if os.path.isfile(os.path.join(repo, p))  # a file deleted but not yet committed
            and not any(p == d or p.startswith(d + os.sep) for d in LEFT_OUT)]


def copy_repository(repo, out, link=False):
    """Copy the repository's files to `out` (hard links with link=True: for the kit's tests, files never edited
    in place). Returns the list of relative paths."""
    paths = repository_files(repo)
    os.makedirs(out, exist_ok=True)
    for rel in paths:
        source, target = os.path.join(repo, rel), os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if link and os.stat(source).st_dev == os.stat(out).st_dev:  # hard links need one file system
            os.link(source, target)
        else:
            shutil.copy2(source, target)
    return paths


def apply_bodies(root, name, bodies):
    """Put bodies[i] into region i of assignment `name` in the repository at `root` (regions numbered over the
    assignment's files in the order of course/assignments.py, then top to bottom; None keeps a region; one
    string: that body in every region).
    Returns ["file:start-end", ...]; a listed file without regions, or a count that differs, raises ValueError."""
    texts = {}
    for rel in ASSIGNMENTS[name]["files"]:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise ValueError(f"assignment {name}: {rel} is not in {root}; fix its `files` in course/assignments.py")
        with open(path) as f:
            texts[rel] = f.read()
        if not find_regions(texts[rel], name):
            raise ValueError(f"assignment {name}: {rel} has no '# >>> assignment {name}' region; mark the solution "
                             "there or drop the file from its `files` in course/assignments.py")
    counts = {rel: len(find_regions(text, name)) for rel, text in texts.items()}
    if isinstance(bodies, str):
        bodies = [bodies] * sum(counts.values())
    if len(bodies) != sum(counts.values()):
        raise ValueError(f"assignment {name}: {len(bodies)} bodies for {sum(counts.values())} regions {counts}")
    replaced, first = [], 0
    for rel, text in texts.items():
        regions = find_regions(text, name)
        write_text(os.path.join(root, rel), replace_regions(text, name, bodies[first:first + len(regions)]))
        replaced += [f"{rel}:{start}-{end}" for (start, end, _), body in zip(regions, bodies[first:])
                     if body is not None]
        first += len(regions)
    return replaced


def remove_solutions(out, names):
    """Replace every region of each assignment in `names` by its NotImplementedError, in the copy at `out`.
    Returns ["file:start-end", ...]."""
    return [region for name in names for region in apply_bodies(out, name, not_implemented_body(name))]


def write_text(path, text):
    """Write a new file at `path` (unlinked first, so that a hard-linked original is never touched)."""
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w") as f:
        f.write(text)


def make_student_copy(out, names, repo=REPO, force=False, link=False):
    """Copy `repo` to `out` and remove the solutions of `names` ('all' or a list); returns the removed regions."""
    names = check_names(names)
    out, repo = os.path.realpath(out), os.path.realpath(repo)
    if os.path.commonpath([out, repo]) == repo:
        raise ValueError(f"--out {out} is inside the repository {repo}; choose a folder outside it")
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise ValueError(f"--out {out} is not empty; choose a new folder, or pass --force to copy over it "
                         "(files already there that the repository does not have are left alone)")
    copy_repository(repo, out, link=link)
    return remove_solutions(out, names)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course/student_copy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the student copy (new or empty, outside the repo)")
    parser.add_argument("--assignments", required=True,
                        help=f"comma-separated names ({', '.join(ASSIGNMENTS)}) or all")
    parser.add_argument("--force", action="store_true", help="copy into a non-empty --out folder")
    args = parser.parse_args(argv)
    try:
        names = check_names(args.assignments.split(",") if args.assignments != "all" else "all")
        removed = make_student_copy(args.out, names, force=args.force)
    except ValueError as e:
        sys.exit(f"course/student_copy.py: {e}")
    print(f"student copy at {os.path.realpath(args.out)}: assignments {', '.join(names)}; "
          f"{len(removed)} region{'s' if len(removed) != 1 else ''} removed: {' '.join(removed)}")
    print(f"grade it with: python course/grade.py NAME --repo {os.path.realpath(args.out)}")


if __name__ == "__main__":
    main()
