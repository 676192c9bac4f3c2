"""Writes tests/core/data/pil_resized_crop.h5: torchvision's resized_crop
on PIL images with bicubic interpolation (img.crop(box), then
img.resize(size, BICUBIC): Pillow's Resample.c), then a left-right flip
where asked, the reference for WholeCrop.MatchesPillowsBicubicResizedCrop
(test_whole_crop.cpp). Pillow 13 picks the order of the two passes by
shape (vertical first when the height loses more than twice the pixels
the width does); the last cases pin that rule.

Each case is one RGB image (smooth random colours plus a little noise), a
box (top, left, height, width, flip) and an output size: shrinking,
enlarging, one side kept, both kept (a plain crop), the whole image, and
boxes at the edges. Rerun with the project's Python (its Pillow and
torchvision) to rebuild:

    ~/.cache/ldae/torch-2.11.0/bin/python tests/core/data/pil_resized_crop.py
"""
import os
import sys

import h5py
import numpy as np
import PIL
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

# (image height, width), (top, left, height, width, flip), (out height, out width)
CASES = [
    ((37, 53), (3, 5, 30, 40, 0), (16, 16)),    # shrinking both ways
    ((37, 53), (0, 0, 37, 53, 1), (7, 7)),      # the whole image, much smaller, flipped
    ((24, 18), (10, 4, 8, 6, 0), (32, 32)),     # enlarging
    ((24, 18), (2, 3, 20, 12, 1), (20, 16)),    # height kept, width enlarged
    ((30, 41), (5, 1, 17, 25, 0), (12, 25)),    # width kept, height shrunk
    ((30, 41), (4, 9, 19, 23, 0), (19, 23)),    # both kept: a plain crop
    ((64, 48), (0, 0, 64, 48, 0), (33, 33)),    # whole, not square
    ((64, 48), (40, 30, 24, 18, 1), (48, 48)),  # at the bottom-right edge, enlarged
    ((5, 9), (0, 2, 5, 5, 0), (16, 16)),        # tiny source
    ((48, 64), (1, 1, 46, 61, 0), (96, 96)),    # enlarged, wider than tall
    ((40, 30), (0, 0, 40, 30, 0), (20, 20)),    # height loses exactly twice the width's pixels: horizontal first
    ((40, 30), (0, 0, 40, 30, 1), (19, 20)),    # one more: vertical first (Pillow 13)
    ((90, 40), (2, 3, 85, 30, 0), (17, 25)),    # a tall box shrunk mostly in height: vertical first
]


def image(h, w, rng):
    """A smooth RGB image (a 4 x 4 grid of random colours, bicubically
    enlarged, plus a little noise), (h, w, 3) uint8."""
    small = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    big = np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.int16)
    return np.clip(big + rng.integers(-12, 13, big.shape), 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(0)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pil_resized_crop.h5")
    with h5py.File(out, "w") as f:
        f.attrs["pillow"] = PIL.__version__
        f.attrs["torchvision"] = torchvision.__version__
        for k, ((h, w), (top, left, bh, bw, flip), (oh, ow)) in enumerate(CASES):
            im = image(h, w, rng)
            res = F.resized_crop(Image.fromarray(im), top, left, bh, bw, [oh, ow],
                                 interpolation=InterpolationMode.BICUBIC)
            if flip:
                res = F.hflip(res)
            g = f.create_group(f"case{k}")
            g["image"] = np.ascontiguousarray(im.transpose(2, 0, 1))  # (C, H, W)
            g["box"] = np.array([top, left, bh, bw, flip], dtype=np.int64)
            g["out"] = np.ascontiguousarray(np.asarray(res).transpose(2, 0, 1))
        f.attrs["cases"] = len(CASES)
    print(f"wrote {out}: {len(CASES)} cases, Pillow {PIL.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
