"""Throughput of the training input pipeline: decode (image + packed label), augment (scale, pad, crop, flip),
unpack to (K, H, W), collate. SBD: writes a SEAL-layout folder of synthetic 375x500 scenes in a temporary directory
(labels as `.bin` and as `.png`), then prints samples/s through a DataLoader with 0 and 2 workers, and the
samples/s of ONE core (no worker, one torch thread): the number of DataLoader workers a GPU needs is its training
images/s (bench/gpu_check.py) divided by that figure.
Cityscapes: writes Cityscapes as downloaded (leftImg8bit, gtFine labelIds / instanceIds) at the real 2048x1024 size
(synthetic scenes whose shapes carry Cityscapes labelIds), runs `prepare.py cityscapes` on it, and prints the same
figures for the trainval tiles (8 per image, 512x512, no rescaling: train.py's Cityscapes default) read two ways:
`whole` decodes the whole image and label and crops the tile (a folder without tiles/, the loader before the tiles
were written at prepare time) and `tiles` reads the tile files (datasets.py, "Cityscapes tiles"). The synthetic
images hold pixel noise, so their PNGs are about twice the size of a real Cityscapes image (4.6 MB against ~2.2 MB):
decoding a whole image may be somewhat slower here than on the real files.
Measures the input pipeline of paper Sec. 4.1.1 (SBD labels) and Sec. 4.1.2 (augmentation, Cityscapes tiles).

    python bench/bench_data.py [--images 64] [--batch-size 8] [--crop 512] [--epochs 2]
    python bench/bench_data.py --dataset cityscapes [--cityscapes-images 4]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import datasets  # noqa: E402
from util.files import write_list  # noqa: E402
from edgedata.converters import prepare_cityscapes  # noqa: E402
from edgedata.labels import edge_bits, write_label  # noqa: E402
from edgedata.synthetic import SyntheticEdges  # noqa: E402
from edgedata.transforms import TrainTransform, to_sample  # noqa: E402


def write_folder(root, num_images):
    """SEAL layout: image/<name>.jpg, label_inst/<name>.bin and .png, lists train_inst.txt / train_png.txt."""
    os.makedirs(os.path.join(root, "image"))
    os.makedirs(os.path.join(root, "label_inst"))
    scenes = SyntheticEdges(num_images, (375, 500), num_classes=8, seed=0)
    lines = {"bin": [], "png": []}
    for i in range(num_images):
        image, classes, instances = scenes.scene(i)
        name = f"2008_{i:06d}"
        Image.fromarray(image).save(os.path.join(root, "image", name + ".jpg"), quality=90)
        bits = edge_bits(instances, classes, radius=2)
        for fmt in lines:
            write_label(os.path.join(root, "label_inst", f"{name}.{fmt}"), bits)
            lines[fmt].append((f"image/{name}.jpg", f"label_inst/{name}.{fmt}"))
    for fmt, rows in lines.items():
        write_list(os.path.join(root, f"train_{fmt}.txt"), rows)


def measure(ds, workers, args):
    """Samples/s of `ds` through a shuffling DataLoader (after a warm-up epoch) and the last batch."""
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0)
    for _ in loader:  # warm-up epoch: worker start-up, file cache
        pass
    n, start = 0, time.perf_counter()
    for _ in range(args.epochs):
        for batch in loader:
            n += batch["image"].shape[0]
    return n / (time.perf_counter() - start), batch


def stages(root, fmt, args):
    """Milliseconds per sample of each stage, in this process (no DataLoader)."""
    ds = datasets.SBDEdges(root, "train", list_file=os.path.join(root, f"train_{fmt}.txt"))
    t = TrainTransform(crop=args.crop)
    ms = {"decode": 0.0, "augment": 0.0, "unpack": 0.0, "collate": 0.0}
    samples = []
    for i in range(len(ds)):
        t0 = time.perf_counter()
        image, bits = ds.load(i)
        t1 = time.perf_counter()
        image, bits = t(image, bits)
        t2 = time.perf_counter()
        samples.append(to_sample(image, bits, ds.num_classes, ds.names[i], i))
        t3 = time.perf_counter()
        ms["decode"], ms["augment"], ms["unpack"] = (ms["decode"] + t1 - t0, ms["augment"] + t2 - t1,
                                                     ms["unpack"] + t3 - t2)
        if len(samples) == args.batch_size:
            t4 = time.perf_counter()
            torch.utils.data.default_collate(samples)
            ms["collate"] += time.perf_counter() - t4
            samples = []
    return ", ".join(f"{k} {1000 * v / len(ds):.1f}" for k, v in ms.items())


# ------------------------------------------------------------------------------------ Cityscapes, 2048x1024

CITYSCAPES_IDS = (7, 26, 24, 17, 21, 20, 13, 11, 8)  # labelId of synthetic class 0..8: road, car, person, pole, ...


def write_cityscapes(src, num_images):
    """Cityscapes as downloaded, 2048x1024: leftImg8bit/train/<city>/<name>_leftImg8bit.png, gtFine/train/<city>/
    <name>_gtFine_labelIds.png and _instanceIds.png (16-bit: labelId, or labelId * 1000 + n for things); the bottom
    rows "out of roi" (labelId 3). Image 0 is in zurich (the held-out val city), the others in aachen."""
    scenes = SyntheticEdges(num_images, (1024, 2048), num_classes=8, seed=0)
    for i in range(num_images):
        image, classes, instances = scenes.scene(i)
        label = np.asarray(CITYSCAPES_IDS, np.uint8)[classes]
        label[-40:] = 3
        inst = np.where(classes > 0, label.astype(np.int64) * 1000 + instances, label).astype(np.uint16)
        city = "zurich" if i == 0 else "aachen"
        name = f"{city}_{i:06d}_000019"
        for sub, suffix, arr in (("leftImg8bit", "leftImg8bit", image), ("gtFine", "gtFine_labelIds", label),
                                 ("gtFine", "gtFine_instanceIds", inst)):
            folder = os.path.join(src, sub, "train", city)
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(arr).save(os.path.join(folder, f"{name}_{suffix}.png"))
    os.makedirs(os.path.join(src, "leftImg8bit", "val"), exist_ok=True)  # no official val images: not measured


def cityscapes_set(root, tiles):
    """trainval tiles with train.py's Cityscapes augmentation (crop 512, no rescaling, flips); tiles=False reads them
    as a folder without tiles/ does: decode the whole image and label, then crop."""
    ds = datasets.CityscapesEdges(root, "trainval", transform=TrainTransform(crop=512, scale=None))
    ds.tiles = tiles
    return ds


def cityscapes_stages(root, tiles):
    """Milliseconds per sample: decode (the tile, or the whole image and label then the crop), augment, unpack."""
    ds = cityscapes_set(root, tiles)
    ms = {"decode": 0.0, "augment": 0.0, "unpack": 0.0}
    for index in range(len(ds)):
        i, j = divmod(index, len(ds.boxes))
        y0, x0, y1, x1 = box = ds.boxes[j]
        t0 = time.perf_counter()
        tile = ds.load_tile(i, box)
        if tile is None:
            image, bits = ds.load(i)
            tile = image[y0:y1, x0:x1], bits[y0:y1, x0:x1]
        t1 = time.perf_counter()
        image, bits = ds.transform(*tile)
        t2 = time.perf_counter()
        to_sample(image, bits, ds.num_classes, ds.names[i], index)
        t3 = time.perf_counter()
        ms["decode"], ms["augment"], ms["unpack"] = (ms["decode"] + t1 - t0, ms["augment"] + t2 - t1,
                                                     ms["unpack"] + t3 - t2)
    return ", ".join(f"{k} {1000 * v / len(ds):.1f}" for k, v in ms.items())


def bench_cityscapes(args, threads_default):
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        write_cityscapes(os.path.join(root, "src"), args.cityscapes_images)
        dst = os.path.join(root, "prepared")
        prepare_cityscapes(os.path.join(root, "src"), dst)
        print(f"cityscapes: {args.cityscapes_images} images of 2048x1024 written and prepared in "
              f"{time.perf_counter() - start:.0f} s; trainval = {len(cityscapes_set(dst, True))} tiles of 512x512")
        for tiles in (False, True):
            how = "tiles" if tiles else "whole"
            print(f"cityscapes {how}  ms per sample: {cityscapes_stages(dst, tiles)}")
            for row, (workers, threads) in enumerate(((0, threads_default), (0, 1), (2, threads_default))):
                torch.set_num_threads(threads)
                rate, batch = measure(cityscapes_set(dst, tiles), workers, args)
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items() if torch.is_tensor(v))
                print(f"cityscapes {how}  workers {workers}, main torch threads {threads}: {rate:6.1f} samples/s  "
                      f"({shapes})" + ("  <- one core" if row == 1 else ""))
            torch.set_num_threads(threads_default)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="all", choices=["all", "sbd", "cityscapes"], help="which pipeline")
    parser.add_argument("--cityscapes-images", type=int, default=4, help="2048x1024 Cityscapes images written "
                        "(8 tiles each)")
    parser.add_argument("--images", type=int, default=64, help="synthetic images written")
    parser.add_argument("--batch-size", type=int, default=8, help="DataLoader batch size")
    parser.add_argument("--crop", type=int, default=512, help="training crop (Sec. 4.1.2: 512)")
    parser.add_argument("--epochs", type=int, default=2, help="timed passes over the folder (after one warm-up)")
    args = parser.parse_args()
    torch.manual_seed(0)
    threads_default = torch.get_num_threads()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads {threads_default}")
    if args.dataset in ("all", "cityscapes"):
        bench_cityscapes(args, threads_default)
    if args.dataset == "cityscapes":
        return
    with tempfile.TemporaryDirectory() as root:
        write_folder(root, args.images)
        for fmt in ("bin", "png"):
            print(f"labels .{fmt}  ms per sample: {stages(root, fmt, args)}")
            for row, (workers, threads) in enumerate(((0, threads_default), (0, 1), (2, threads_default))):
                torch.set_num_threads(threads)  # main-process collate is a torch op: its threads matter
                rate, batch = measure(datasets.SBDEdges(root, "train", transform=TrainTransform(crop=args.crop),
                                                        list_file=os.path.join(root, f"train_{fmt}.txt")),
                                      workers, args)
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items() if torch.is_tensor(v))
                print(f"labels .{fmt}  workers {workers}, main torch threads {threads}: {rate:6.1f} samples/s  "
                      f"({shapes})" + ("  <- one core" if row == 1 else ""))
            torch.set_num_threads(threads_default)


if __name__ == "__main__":
    main()
