"""predict.py on images the tests make: every file kind and mode a user has, EXIF rotation, big images through the
sliding window, folders with other files, colliding names, thin edges, and the errors for inputs that are not
images. The checkpoint is a tiny random model written by the test (a model.pt, as a user gets it)."""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import datasets
import predict
from util import checkpoint
from util import inference
from test_checkpoint import tiny_checkpoint
from scoring.thinning import thin


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    model, ckpt = tiny_checkpoint(folder / "last.pt")
    checkpoint.export_model(ckpt, str(folder / "model.pt"), metric_preset="sbd")
    return folder / "model.pt", model


def run(model_pt, out, *inputs, extra=()):
    args = predict.get_args_parser().parse_args(
        ["--ckpt", str(model_pt[0]), "--out", str(out), "--input", *map(str, inputs), *extra])
    return predict.main(args)


def expected(model, rgb, window=None):
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
    return inference.to_uint8(inference.predict(model, x, window=window)[0])


def class_pngs(out, name, K=4):
    return np.stack([np.array(Image.open(out / f"class_{k:03d}" / f"{name}.png")) for k in range(1, K + 1)])


def test_every_kind_of_image(model_pt, tmp_path, capsys):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb).save(src / "photo.jpg", quality=95)
    Image.fromarray(rgb).save(src / "plain.png")
    Image.fromarray(rgb).save(src / "bitmap.bmp")
    Image.fromarray(rgb).save(src / "scan.tif")
    Image.fromarray(rgb).save(src / "web.webp", lossless=True)
    Image.fromarray(rgb[..., 0]).save(src / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((40, 56), 7, np.uint8)])).save(src / "alpha.png")  # RGBA
    Image.fromarray(rgb).quantize(16).save(src / "palette.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 16)).save(src / "deep.png")  # 12-bit values in 16 bits
    summary = run(model_pt, tmp_path / "out", src)
    assert summary["images"] == 9 and summary["skipped"] == 0
    out, model = tmp_path / "out", model_pt[1]
    assert np.array_equal(class_pngs(out, "plain"), expected(model, rgb))
    assert np.array_equal(class_pngs(out, "bitmap"), expected(model, rgb))
    assert np.array_equal(class_pngs(out, "alpha"), expected(model, rgb))  # the alpha is dropped
    assert np.array_equal(class_pngs(out, "grey"), expected(model, np.repeat(rgb[..., :1], 3, 2)))
    for name in ("photo", "scan", "web", "palette", "deep"):
        pngs = class_pngs(out, name)
        assert pngs.shape == (4, 40, 56) and pngs.dtype == np.uint8
        assert Image.open(out / "pictures" / f"{name}.png").width > 2 * 56
    printed = capsys.readouterr().out
    assert "1 red disc, 2 green square, 3 blue triangle, 4 yellow ring" in printed
    assert "fixed at training time" in printed and "not an open-vocabulary model like LSeg" in printed
    assert "images/s on cpu" in printed


def test_high_bit_depth_is_stretched_by_its_range_not_clipped(tmp_path):
    """datasets.read_image, predict's reader: one policy for 16-bit, 32-bit and float images."""
    deep = (np.arange(12 * 16).reshape(12, 16) * 20 + 100).astype(np.uint16)  # 100..3920: a 12-bit camera image
    Image.fromarray(deep).save(tmp_path / "deep.png")
    rgb = datasets.read_image(str(tmp_path / "deep.png"))
    assert rgb.shape == (12, 16, 3) and rgb.min() == 0 and rgb.max() == 255
    want = np.round((deep - 100.0) / (deep.max() - 100.0) * 255).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], want) and np.array_equal(rgb[..., 2], want)
    Image.fromarray(deep.astype(np.int32) * 1000).save(tmp_path / "deep32.tif")  # 32-bit integers: the same
    assert np.array_equal(datasets.read_image(str(tmp_path / "deep32.tif")), rgb)
    floats = datasets.to_rgb(Image.fromarray(np.full((4, 4), 0.25, np.float32)))  # a constant image
    assert floats.shape == (4, 4, 3) and floats.max() == 0


def test_exif_rotated_photo_is_upright(model_pt, tmp_path):
    rgb = np.zeros((30, 50, 3), np.uint8)
    rgb[:5, :5] = 255  # a white mark in the stored top-left corner
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # orientation 6: the camera was turned; shown rotated 90 degrees clockwise
    image.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    upright = datasets.read_image(str(tmp_path / "phone.jpg"), upright=True)
    assert upright.shape == (50, 30, 3)
    assert upright[:5, -5:].mean() > 200 and upright[:5, :5].mean() < 50  # the mark is now top-right
    stored = datasets.read_image(str(tmp_path / "phone.jpg"))  # training: the pixel grid the labels are drawn on
    assert stored.shape == (30, 50, 3) and stored[:5, :5].mean() > 200
    run(model_pt, tmp_path / "out", tmp_path / "phone.jpg")
    assert class_pngs(tmp_path / "out", "phone").shape == (4, 50, 30)


def test_big_images_run_through_the_sliding_window(model_pt, tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (70, 100, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.png")
    run(model_pt, tmp_path / "out", tmp_path / "big.png", extra=["--window", "64"])
    got = class_pngs(tmp_path / "out", "big")
    assert np.array_equal(got, expected(model_pt[1], rgb, window=64))
    assert not np.array_equal(got, expected(model_pt[1], rgb))  # not the whole-image result


def test_folder_with_other_files_warns_for_each(model_pt, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(src / "a.png")
    (src / "notes.txt").write_text("not an image")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, "JPEG")
    (src / "cut.jpg").write_bytes(buffer.getvalue()[:200])  # a truncated JPEG
    (src / "sub").mkdir()  # folders are not recursed into
    summary = run(model_pt, tmp_path / "out", src)
    assert summary["images"] == 1 and summary["skipped"] == 2
    err = capsys.readouterr().err
    assert f"WARNING: skipped {src / 'notes.txt'}: not an image" in err
    assert f"WARNING: skipped {src / 'cut.jpg'}: cannot decode the image" in err and "truncated" in err


def test_inputs_that_are_not_images_or_match_nothing_are_errors(model_pt, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"--input .*notes\.txt: not an image"):
        run(model_pt, tmp_path / "out", tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        run(model_pt, tmp_path / "out", tmp_path / "nothing*.jpg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no files found"):
        run(model_pt, tmp_path / "out", tmp_path / "empty")


def test_same_names_from_different_folders_do_not_collide(model_pt, tmp_path, capsys):
    for folder, value in (("a", 0), ("b", 120)):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((20, 30, 3), value, np.uint8)).save(tmp_path / folder / "x.png")
    Image.fromarray(np.full((20, 30, 3), 250, np.uint8)).save(tmp_path / "a" / "x.jpg")
    summary = run(model_pt, tmp_path / "out", tmp_path / "a", tmp_path / "b" / "x.png")
    assert sorted(summary["names"]) == ["a__x_jpg", "a__x_png", "b__x"]
    assert "NOTE:" in capsys.readouterr().out
    a = class_pngs(tmp_path / "out", "a__x_png")
    assert np.array_equal(a, expected(model_pt[1], np.zeros((20, 30, 3), np.uint8)))
    assert predict.output_names(["p/x.png", "q/y.png"]) == ["x", "y"]  # no repeat: the plain stems


def test_thin_edges_are_binary_one_pixel_wide_and_at_the_threshold(model_pt, tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "t.png")
    run(model_pt, tmp_path / "out", tmp_path / "t.png", extra=["--threshold", "0.5"])  # implies --thin
    probs8 = class_pngs(tmp_path / "out", "t")
    edges = class_pngs(tmp_path / "out" / "thin", "t")
    assert set(np.unique(edges)) <= {0, 255} and edges.any()
    for k in range(4):
        assert np.array_equal(edges[k] > 0, thin(probs8[k] >= 128))  # 128 / 255 is the first value >= 0.5
        assert np.array_equal(thin(edges[k] > 0), edges[k] > 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        run(model_pt, tmp_path / "out", tmp_path / "t.png", extra=["--thin", "--threshold", "51"])


def test_a_checkpoint_that_is_not_one_is_an_error(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("version https://git-lfs.github.com/spec/v1\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"predict\.py --ckpt: .*model\.pt' is a Git LFS pointer"):
        run((bad, None), tmp_path / "out", tmp_path / "a.png")
    assert not os.path.exists(tmp_path / "out" / "class_001")
