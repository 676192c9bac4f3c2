"""The peer of bench_augment: MAE's fine-tuning augmentation as timm applies
it (main_finetune.py's create_transform: RandAugment "rand-m9-mstd0.5-inc1"
on PIL images, bicubic, ImageNet's mean as the fill; then ToTensor,
Normalize and RandomErasing(0.25, "pixel")), on random RGB images, one image
at a time as a DataLoader worker does; --threads N workers share the batch
(a process pool, as DataLoader's workers). Prints images_per_s.

    python bench/augment_peer.py [--side 224] [--batch 256] [--batches 4] [--threads N]
"""
import argparse
import multiprocessing as mp
import time

import numpy as np
import torch
from PIL import Image, ImageOps
from timm.data.auto_augment import rand_augment_transform
from timm.data.random_erasing import RandomErasing
from torchvision import transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_tf = None
# timm's PosterizeIncreasing keeps 0 bits at magnitude 10 (m 9 + 0.5 N(0, 1)
# reaches it 2% of the time); Pillow 13 refuses 0 bits, older Pillow (MAE's)
# made the image black, as core/data/pil_ops.cpp does.
_posterize = ImageOps.posterize
ImageOps.posterize = lambda img, bits: _posterize(img, bits) if bits >= 1 else Image.new(img.mode, img.size, 0)


def _init(side):
    global _tf
    torch.set_num_threads(1)
    ra = rand_augment_transform("rand-m9-mstd0.5-inc1",
                                dict(translate_const=int(side * 0.45), img_mean=(124, 116, 104),
                                     interpolation=Image.BICUBIC))
    _tf = transforms.Compose([ra, transforms.ToTensor(), transforms.Normalize(MEAN, STD),
                              RandomErasing(0.25, mode="pixel", max_count=1, device="cpu")])


def _one(im):
    return _tf(im).shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", type=int, default=224)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    ims = [Image.fromarray(rng.integers(0, 256, (a.side, a.side, 3), dtype=np.uint8)) for _ in range(a.batch)]
    _init(a.side)
    if a.threads > 1:
        pool = mp.get_context("fork").Pool(a.threads, initializer=_init, initargs=(a.side,))
        run = lambda: pool.map(_one, ims, chunksize=max(1, a.batch // (4 * a.threads)))
    else:
        run = lambda: [_one(im) for im in ims]
    run()  # untimed, as bench_augment's first batch
    t0 = time.perf_counter()
    for _ in range(a.batches):
        run()
    s = time.perf_counter() - t0
    print(f"peer augment {a.side} px: timm + Pillow on {a.threads} threads: images_per_s={a.batch * a.batches / s:.1f}")


if __name__ == "__main__":
    main()
