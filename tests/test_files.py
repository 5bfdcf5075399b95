"""Tests for util/files.py: atomic writes, stale temporary files, safe joins, the list format, verified downloads."""
import hashlib
import os

import pytest

from util import files


def test_atomic_write_replaces_whole_files_and_cleans_up(tmp_path):
    path = str(tmp_path / "a.txt")
    files.atomic_write(path, lambda tmp: open(tmp, "w").write("one"))
    assert open(path).read() == "one"

    def fail(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise KeyboardInterrupt  # a kill in the middle of the write
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(path, fail)
    assert open(path).read() == "one" and os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_fsyncs_before_the_rename(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    files.atomic_write(str(tmp_path / "b.bin"), lambda tmp: open(tmp, "wb").write(b"x"))
    assert calls[:2] == ["fsync", "replace"]


def test_remove_stale_tmp_removes_only_atomic_writes_temporary_files(tmp_path):
    (tmp_path / "sub").mkdir()
    names = []  # the temporary name atomic_write uses: same folder, same extension (PIL picks the format)
    files.atomic_write(str(tmp_path / "sub" / "label.png"), lambda tmp: (names.append(tmp), open(tmp, "w").close()))
    assert names == [str(tmp_path / "sub" / f"label.lsed.tmp{os.getpid()}.png")]
    users = ["photo.tmp123.jpg", "a.tmp123.png", "sub/c.tmp77", "keep.png", "template.png", "x.tmp.png",
             "y.lsed.tmp.png"]  # a user's own files, copied under --dst
    for n in ("a.lsed.tmp123.png", "sub/b.lsed.tmp9.bin", "sub/c.lsed.tmp77", *users):
        (tmp_path / n).write_text("")
    assert files.remove_stale_tmp(str(tmp_path)) == 3
    left = sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs)
    assert left == sorted(users + ["sub/label.png"])


def test_safe_join_refuses_paths_that_leave_the_root(tmp_path):
    root = str(tmp_path)
    assert files.safe_join(root, "image/a b.jpg", "list") == os.path.join(root, "image", "a b.jpg")
    assert files.safe_join(root, "x/../y.png", "list") == os.path.join(root, "y.png")
    for bad in ("../evil.png", "a/../../evil.png", "/etc/passwd", ".."):
        with pytest.raises(ValueError, match="train.txt, line 3"):
            files.safe_join(root, bad, "train.txt, line 3")


def test_list_format_round_trips_any_name(tmp_path):
    rows = [("image/a.jpg", "label_inst/a.png"), ("image/my photo 1.jpg", "label_inst/my photo 1.png"),
            ("only one.jpg",), ("plain.jpg",), ("ümlaut ø.png", "l.png")]
    path = str(tmp_path / "list.txt")
    files.write_list(path, rows)
    assert files.read_list(path) == rows
    text = open(path, encoding="utf-8").read().splitlines()
    assert text[0] == "image/a.jpg label_inst/a.png"  # SEAL's format where names have no spaces
    assert text[1] == "image/my photo 1.jpg\tlabel_inst/my photo 1.png"
    (tmp_path / "seal.txt").write_text("/img/a.jpg   /cls/a.bin\n\n b.jpg \n")  # SEAL's own lists still read
    assert files.read_list(str(tmp_path / "seal.txt")) == [("/img/a.jpg", "/cls/a.bin"), ("b.jpg",)]
    with pytest.raises(ValueError, match="cannot store"):
        files.write_list(path, [("a\tb.jpg",)])
    (tmp_path / "three.txt").write_text("a b c\n")
    with pytest.raises(ValueError, match=r"three.txt, line 1: 3 fields"):
        files.read_list(str(tmp_path / "three.txt"))


def test_download_verified_checks_the_hash_and_names_the_url(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"hello")
    good = hashlib.sha256(b"hello").hexdigest()
    url = src.as_uri()
    target = str(tmp_path / "cache" / "w.bin")
    assert files.download_verified(url, good, target, "test weights") == target
    assert open(target, "rb").read() == b"hello" and files.sha256_of(target) == good
    with pytest.raises(RuntimeError, match="SHA-256.*refused"):
        files.download_verified(url, "0" * 64, str(tmp_path / "cache" / "x.bin"), "test weights")
    assert not os.path.exists(str(tmp_path / "cache" / "x.bin.part"))
    with pytest.raises(RuntimeError, match=r"cannot download test weights from .*missing.*put it at"):
        files.download_verified((tmp_path / "missing").as_uri(), good, str(tmp_path / "y.bin"), "test weights")
