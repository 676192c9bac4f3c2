"""The peer of bench_crops: the official recipes' crop (torchvision's
RandomResizedCrop(size, scale=(0.08, 1), interpolation=BICUBIC), then
RandomHorizontalFlip and PILToTensor, as MAE's main_linprobe.py builds it),
on the train/ images of an image folder decoded and resized to their
shorter side `size` once (untimed: what the harness's store holds), one
image at a time as a DataLoader worker does; --threads N workers share the
batch (a process pool, as DataLoader's workers). With --from files, each
crop opens and decodes its file first (torchvision's ImageFolder loader:
Image.open(path).convert("RGB")), the peer of data.crops_from = "files".
Prints images_per_s.

    python bench/crop_peer.py FOLDER [--size 256] [--batch 256] [--batches 8] [--threads N] [--from files]
"""
import argparse
import multiprocessing as mp
import os
import time

import torch
from PIL import Image
from torchvision import transforms

_tf = None
_ims = []


def _init(size):
    global _tf
    torch.set_num_threads(1)
    _tf = transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.08, 1.0), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(), transforms.PILToTensor()])


def _one(i):
    im = _ims[i]
    if isinstance(im, str):  # --from files: the loader's decode, per crop
        with open(im, "rb") as f:
            im = Image.open(f).convert("RGB")
    return _tf(im).shape[0]


def load(folder, size, files):
    """The train/ images, shorter side `size` (Pillow's bilinear), as PIL
    images; with files, their paths."""
    out = []
    root = os.path.join(folder, "train")
    for cls in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, cls))):
            path = os.path.join(root, cls, name)
            if files:
                out.append(path)
                continue
            im = Image.open(path).convert("RGB")
            s = size / min(im.size)
            out.append(im.resize((max(size, round(im.width * s)), max(size, round(im.height * s))), Image.BILINEAR))
    return out


def main():
    global _ims
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--from", dest="source", choices=["store", "files"], default="store",
                    help="crop images held resized in memory (store), or decode each file per crop (files)")
    a = ap.parse_args()
    _ims = load(a.folder, a.size, a.source == "files")
    _init(a.size)
    batch = [[(b * a.batch + k) % len(_ims) for k in range(a.batch)] for b in range(a.batches + 1)]
    if a.threads > 1:
        pool = mp.get_context("fork").Pool(a.threads, initializer=_init, initargs=(a.size,))
        run = lambda ix: pool.map(_one, ix, chunksize=max(1, a.batch // (4 * a.threads)))
    else:
        run = lambda ix: [_one(i) for i in ix]
    run(batch[0])  # untimed, as bench_crops's first batch
    t0 = time.perf_counter()
    for b in range(1, a.batches + 1):
        run(batch[b])
    s = time.perf_counter() - t0
    print(f"peer crops {a.size} px from {a.source}: torchvision + Pillow on {a.threads} threads: "
          f"images_per_s={a.batch * a.batches / s:.1f}")


if __name__ == "__main__":
    main()
