"""The peer of bench_prepare's data.resize = "dit" line: what DiT's data
loader does to each image (train.py: ImageFolder's loader, Pillow's
open + convert("RGB"), then center_crop_arr, ADM's BOX halvings and
bicubic resize, as an array) over every image of an image folder's train/
and val/, one image at a time as a DataLoader worker does; --threads N
workers share them (a process pool, as DataLoader's workers). The files
are read once untimed first (the page cache, as bench_prepare's).
Prints images_per_s.

    python bench/center_crop_peer.py FOLDER [--size 256] [--threads N]
"""
import argparse
import multiprocessing as mp
import os
import time

import numpy as np
from PIL import Image

_size = 256


def _init(size):
    global _size
    _size = size


def _one(path):
    """DiT's transform up to the array: decode, halve by BOX while the
    shorter side is at least twice the size, bicubic to the size, centre crop."""
    im = Image.open(path).convert("RGB")
    while min(im.size) >= 2 * _size:
        im = im.resize((im.size[0] // 2, im.size[1] // 2), resample=Image.BOX)
    s = _size / min(im.size)
    im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), resample=Image.BICUBIC)
    a = np.asarray(im)
    y, x = (a.shape[0] - _size) // 2, (a.shape[1] - _size) // 2
    return a[y:y + _size, x:x + _size].shape[0]


def files(folder):
    out = []
    for split in ("train", "val"):
        root = os.path.join(folder, split)
        for cls in sorted(os.listdir(root)):
            out += [os.path.join(root, cls, n) for n in sorted(os.listdir(os.path.join(root, cls)))]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    paths = files(a.folder)
    for p in paths:  # into the page cache, untimed
        with open(p, "rb") as f:
            f.read()
    _init(a.size)
    t0 = time.perf_counter()
    if a.threads > 1:
        with mp.get_context("fork").Pool(a.threads, initializer=_init, initargs=(a.size,)) as pool:
            pool.map(_one, paths, chunksize=max(1, len(paths) // (8 * a.threads)))
    else:
        for p in paths:
            _one(p)
    s = time.perf_counter() - t0
    print(f"peer prepare {a.size} px: DiT's center_crop_arr on {a.threads} threads: images_per_s={len(paths) / s:.1f}")


if __name__ == "__main__":
    main()
