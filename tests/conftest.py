"""Shared pytest setup. The repo root is on sys.path through pytest.ini's `pythonpath = .`, exactly as for
`python train.py` run from the repo root: tests import `model`, `util.files`, ... by the names the scripts use."""
