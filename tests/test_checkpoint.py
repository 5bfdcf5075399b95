"""util/checkpoint.py: safe writes, clear errors for every file that is not a checkpoint, model.pt, verified URLs.

The checkpoints are written by the tests themselves from a tiny random model (no training, no downloads); the URL
tests serve a file from a local http.server on 127.0.0.1 that stops with the test.
"""
import hashlib
import http.server
import os
import threading
from dataclasses import asdict

import pytest
import torch

import model as edge_model
from util import checkpoint

CLASSES = ["red disc", "green square", "blue triangle", "yellow ring"]


def tiny_model(num_classes=4, seed=0):
    torch.manual_seed(seed)
    cfg = edge_model.ModelConfig(backbone="tiny", pretrained=False, clip_weights="random", num_classes=num_classes,
                                 class_names=CLASSES[:num_classes] + [f"class {k}" for k in range(4, num_classes)])
    return edge_model.build_model(cfg, text_features=torch.randn(num_classes, cfg.text_dim)).eval()


def tiny_checkpoint(path, num_classes=4, seed=0, **extra):
    """A training-style checkpoint of a tiny random model, as train.py writes it (synthetic dataset)."""
    model = tiny_model(num_classes, seed)
    ckpt = {"model": model.state_dict(), "model_config": asdict(model.cfg), "epoch": 1, "step": 1,
            "args": {"dataset": "synthetic", "data_root": None, "train_split": "train"}, "best_score": 0.5,
            "optimizer": {"state": {}, "param_groups": []}, **extra}
    checkpoint.save_checkpoint(ckpt, str(path))
    return model, ckpt


def outputs(model, seed=1):
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(torch.rand(1, 3, 40, 56))["logits"]


# ------------------------------------------------------------------------------------------- writing


def test_save_and_rebuild_gives_the_same_model(tmp_path):
    model, _ = tiny_checkpoint(tmp_path / "last.pt")
    rebuilt, ckpt = edge_model.model_from_checkpoint(str(tmp_path / "last.pt"))
    assert ckpt["epoch"] == 1 and not rebuilt.training
    assert torch.equal(outputs(model), outputs(rebuilt))
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    tiny_checkpoint(path)
    before = path.read_bytes()

    def crash(obj, f, *a, **k):  # half a file, then the process "dies"
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint({"model": {}, "epoch": 99}, str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["last.pt"]


@pytest.mark.parametrize("where", ["parameter", "buffer"])
def test_non_finite_weights_are_refused_and_the_old_file_kept(tmp_path, capsys, where):
    path = tmp_path / "best.pt"
    tiny_checkpoint(path)
    before = path.read_bytes()
    model = tiny_model()
    state = model.state_dict()
    if where == "parameter":
        name = next(k for k, v in state.items() if v.is_floating_point() and k.endswith("weight"))
        state[name][0] = float("nan")
    else:  # a diverged BatchNorm statistic
        name = next(k for k in state if k.endswith("running_var"))
        state[name][0] = float("inf")
    with pytest.raises(FloatingPointError, match=name.replace(".", r"\.")):
        checkpoint.save_checkpoint({"model": state, "model_config": asdict(model.cfg)}, str(path))
    message = capsys.readouterr().out
    assert "non-finite weights" in message and "lower --lr" in message and "--amp off" in message
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.pt"]


# ------------------------------------------------------------------------------------------- reading


def write_bad_files(tmp_path):
    """{name: (path, the words the error must contain)} for every kind of file that is not a checkpoint."""
    good = tmp_path / "good.pt"
    tiny_checkpoint(good)
    data = good.read_bytes()
    cases = {}

    def case(name, content, words):
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
        cases[name] = (path, words)

    case("truncated.pt", data[: len(data) // 2], "truncated zip archive")
    case("empty.pt", b"", "empty file")
    case("random.pt", bytes(range(7, 250)) * 4, "not a zip archive")
    case("notes.pt", b"my best model, epoch 3\n", "text file")
    case("page.pt", b"<!DOCTYPE html><html><body>404</body></html>", "HTML page")
    case("lfs.pt", b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n", "git lfs pull")
    case("bare.pth", {"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(2)}, "bare state dict")
    case("other.pt", {"state_dict": {"a": torch.zeros(1)}, "epoch": 3}, r"lacks \['model', 'model_config'\]")
    case("object.pt", {"model": {}, "model_config": torch.nn.ReLU()}, "Python objects")
    script = torch.jit.script(torch.nn.ReLU())
    torch.jit.save(script, str(tmp_path / "script.pt"))
    cases["script.pt"] = (tmp_path / "script.pt", "TorchScript")
    return cases


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_every_wrong_file_is_named_and_described(tmp_path):
    for name, (path, words) in write_bad_files(tmp_path).items():
        with pytest.raises(ValueError) as info:
            checkpoint.read_checkpoint(str(path), "predict.py --ckpt")
        message = str(info.value)
        assert str(path) in message and "predict.py --ckpt" in message, message
        assert __import__("re").search(words, message, flags=__import__("re").I), (name, message)
        assert "weights_only=False" not in message and "weights_only` set to `False" not in message, message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt' not found"):
        checkpoint.read_checkpoint(str(tmp_path / "nowhere.pt"), "evaluate.py --ckpt")
    with pytest.raises(ValueError, match="is a folder; give a checkpoint file in it"):
        checkpoint.read_checkpoint(str(tmp_path), "evaluate.py --ckpt")


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    _, ckpt = tiny_checkpoint(tmp_path / "a.pt")
    ckpt["model_config"]["decoder"] = "casenet"  # the weights belong to another decoder
    checkpoint.save_checkpoint(ckpt, str(tmp_path / "b.pt"))
    with pytest.raises(ValueError, match="another model.*older version"):
        edge_model.model_from_checkpoint(str(tmp_path / "b.pt"))


# ------------------------------------------------------------------------------------------- sharing


def test_export_model_is_small_complete_and_loads_the_same(tmp_path, capsys):
    model, ckpt = tiny_checkpoint(tmp_path / "last.pt", optimizer_extra=torch.zeros(1000))
    sha = checkpoint.export_model(ckpt, str(tmp_path / "model.pt"), metric_preset="sbd")
    assert sha == hashlib.sha256((tmp_path / "model.pt").read_bytes()).hexdigest()
    assert sha in capsys.readouterr().out
    shared = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(shared) == {"model", "model_config", "class_names", "metric_preset", "dataset", "epoch", "versions"}
    assert shared["class_names"] == CLASSES and shared["metric_preset"] == "sbd"
    assert shared["versions"]["torch"] == torch.__version__ and "torchvision" in shared["versions"]
    rebuilt, _ = edge_model.model_from_checkpoint(str(tmp_path / "model.pt"))
    assert torch.equal(outputs(model), outputs(rebuilt))


class Server:
    """http.server on 127.0.0.1 serving `folder` from a daemon thread; counts requests; stops in `close`."""

    def __init__(self, folder):
        counter = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(folder), **k)

            def do_GET(self):
                counter.append(self.path)
                super().do_GET()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path, monkeypatch):
    (tmp_path / "www").mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # the cache under the test's folder
    s = Server(tmp_path / "www")
    yield s
    s.close()


def test_url_is_downloaded_once_verified_and_cached(tmp_path, server):
    model, ckpt = tiny_checkpoint(tmp_path / "last.pt")
    sha = checkpoint.export_model(ckpt, str(tmp_path / "www" / "model.pt"), metric_preset="sbd")
    url = f"{server.url}/model.pt#sha256={sha}"
    rebuilt, _ = edge_model.model_from_checkpoint(url)
    assert torch.equal(outputs(model), outputs(rebuilt))
    cached = tmp_path / "hub" / "checkpoints" / f"{sha[:8]}-model.pt"
    assert cached.is_file() and server.requests == ["/model.pt"]
    checkpoint.read_checkpoint(url)  # the second time from the cache: no request
    assert server.requests == ["/model.pt"]


def test_url_with_a_wrong_or_no_hash_is_refused(tmp_path, server):
    _, ckpt = tiny_checkpoint(tmp_path / "www" / "last.pt")
    with pytest.raises(ValueError, match="SHA-256.*refused"):
        checkpoint.read_checkpoint(f"{server.url}/last.pt#sha256={'0' * 64}")
    assert not os.listdir(tmp_path / "hub" / "checkpoints")  # nothing unverified stays in the cache
    with pytest.raises(ValueError, match="carries no SHA-256.*#sha256=HEX"):
        checkpoint.read_checkpoint(f"{server.url}/last.pt")


def test_url_offline_is_a_clear_error(tmp_path, server):
    url = f"{server.url}/model.pt#sha256={'a' * 64}"
    server.close()  # nothing listens there any more
    with pytest.raises(ValueError, match="predict.py --ckpt: cannot download.*Offline.*put it at"):
        checkpoint.read_checkpoint(url, "predict.py --ckpt")
