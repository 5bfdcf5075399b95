"""Small file helpers every other module uses: atomic writes, list files, safe joins, verified downloads.

No paper section: this is plumbing, kept in one place so that every file the project writes (labels, evaluation
ground truth, checkpoints) is written the same safe way and every list file is read the same way.

- `atomic_write(path, write_fn)`: write_fn(tmp) to a temporary file beside `path` with the same extension (PIL and
  torch pick the format from it), flush + fsync, then `os.replace` (atomic on POSIX and Windows). A kill leaves
  either the old file or the new one, never half of one; the temporary file is removed when write_fn raises.
- `remove_stale_tmp(folder)`: removes the `<root>.lsed.tmp<pid><ext>` files a killed run left behind; only that
  tagged form, so a user's own `photo.tmp123.jpg` (images copied under --dst) is never touched.
- `safe_join(root, rel, what)`: a path from a list file, refused when it is absolute or leaves `root`.
- `read_list(path)` / `write_list(path, rows)`: list files of 1-2 fields per line. SEAL's format is "<image>
  <label>" separated by one space; a file name with whitespace cannot round-trip that way, so such a row is
  written with a TAB between its fields (a one-field row ends with a TAB), and the reader splits on TAB when the
  line has one, else on whitespace.
  Every list SEAL or CASENet wrote reads as before.
- `sha256_of(path)`, `download_verified(url, sha256, target, what)`: a download with a progress bar into
  `target.part`, checked against the SHA-256 before it is renamed into place (CLIP's `_download` does the same).
"""
import hashlib
import os
import re
import sys

TMP_TAG = ".lsed.tmp"  # temporary names: <root>.lsed.tmp<pid><ext> (same folder and extension as the target)


def atomic_write(path, write_fn):
    """Write `path` atomically: write_fn(tmp_path), fsync, rename. Returns `path`."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}{TMP_TAG}{os.getpid()}{ext}"
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:  # the data must be on disk before the rename makes it visible
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    folder = os.path.dirname(os.path.abspath(path))
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems refuse fsync on a folder; the rename is still atomic
        finally:
            os.close(fd)
    return path


_STALE = re.compile(re.escape(TMP_TAG) + r"\d+(\.[^.]*)?$")


def remove_stale_tmp(folder):
    """Remove the temporary files (`<root>.lsed.tmp<pid><ext>`, atomic_write's names) a killed run left under
    `folder`; returns how many. Other files, `photo.tmp123.jpg` included, are left alone."""
    removed = 0
    for dirpath, _, names in os.walk(folder):
        for n in names:
            if _STALE.search(n):
                os.remove(os.path.join(dirpath, n))
                removed += 1
    if removed:
        print(f"removed {removed} unfinished temporary file(s) left under {folder} by an interrupted run")
    return removed


def safe_join(root, rel, what):
    """root/rel, refused (ValueError naming `what`, e.g. the list file and line) when `rel` is absolute or leaves
    root through `..`: a list file must not make a reader read, or a converter write, outside its folder."""
    if os.path.isabs(rel) or re.match(r"^[A-Za-z]:[\\/]", rel):
        raise ValueError(f"{what}: '{rel}' is an absolute path; list entries must be relative to {root}")
    norm = os.path.normpath(rel)
    if norm == ".." or norm.startswith(".." + os.sep) or norm.startswith("../"):
        raise ValueError(f"{what}: '{rel}' leaves the folder {root}; list entries must stay inside it")
    return os.path.join(root, norm)


def read_list(path):
    """A list file -> rows (tuples of 1 or 2 strings); blank lines skipped. TAB-separated when the line has a TAB
    (names with spaces), else whitespace-separated (SEAL's format)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"list file {path} not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) == 2 and fields[1] == "":  # "<name with spaces><TAB>": a one-field row
                fields = fields[:1]
            if len(fields) > 2:
                raise ValueError(f"{path}, line {i}: {len(fields)} fields, expected '<image> [<label>]' (a name "
                                 f"with spaces needs a TAB between the fields, as write_list writes it)")
            rows.append(tuple(fields))
    return rows


def write_list(path, rows):
    """Rows of 1-2 fields -> a list file, atomically. Fields joined by one space (SEAL's format), or by a TAB when a
    field holds whitespace; a field with a TAB or a newline cannot be stored and is refused."""
    lines = []
    for row in rows:
        row = (row,) if isinstance(row, str) else tuple(row)
        if not 1 <= len(row) <= 2 or any(not f or "\t" in f or "\n" in f or "\r" in f or f != f.strip()
                                         for f in row):
            raise ValueError(f"{path}: cannot store the list row {row!r} (1-2 non-empty fields without TAB, "
                             f"newline or leading/trailing spaces)")
        spaced = any(any(c.isspace() for c in f) for f in row)
        lines.append(("\t".join(row) + ("\t" if len(row) == 1 else "") if spaced else " ".join(row)) + "\n")

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return atomic_write(path, write)


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_verified(url, sha256, target, what):
    """Download `url` to `target` (via `target.part`, with a progress bar) unless a verified copy is there; refuse a
    file whose SHA-256 is not `sha256`. `what` names the file in messages (e.g. "CLIP ViT-B/32 weights")."""
    if os.path.isfile(target):
        if sha256 is None or sha256_of(target) == sha256.lower():
            return target
        print(f"WARNING: {target} does not match the expected SHA-256 of {what}; downloading it again")
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    import urllib.request
    from tqdm import tqdm
    part = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as src, open(part, "wb") as out:
            total = int(src.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(target), file=sys.stderr) as bar:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except OSError as e:  # URLError, timeouts and refused connections are OSErrors
        if os.path.exists(part):
            os.remove(part)
        raise RuntimeError(f"cannot download {what} from {url} ({e}). Offline? Download it elsewhere and put it "
                           f"at {target}") from e
    got = sha256_of(part)
    if sha256 is not None and got != sha256.lower():
        os.remove(part)
        raise RuntimeError(f"{what} downloaded from {url} has SHA-256 {got}, expected {sha256.lower()}; refused "
                           f"(a changed or corrupted file). Check the URL and the hash")
    os.replace(part, target)
    return target
