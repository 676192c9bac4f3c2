"""Writes tests/core/data/pil_rand_augment.h5: RandAugment's operations as
timm applies them to PIL images, the reference for RandAugment.MatchesTimmAndPil
(test_rand_augment.cpp).

Each case is one operation of timm's "inc1" set at a level and sign, through
timm's level-to-argument function and operation, with the fill and
interpolation MAE's main_finetune.py gives them (ImageNet's mean levels,
bicubic). Rerun with the project's Python (its timm and Pillow) to rebuild:

    ~/.cache/ldae/torch-2.11.0/bin/python tests/core/data/pil_rand_augment.py
"""
import os
import random
import sys

import h5py
import numpy as np
import PIL
from PIL import Image
from timm.data import auto_augment as aa

OPS = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
       "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
       "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]  # rand_augment.hpp's order
CASES = [(4.0, -1), (9.0, 1)]  # (level, sign)
SIDE = 16


def images():
    """Two smooth RGB images (a 4 x 4 grid of random colours, bicubically
    enlarged, plus a little noise), (2, SIDE, SIDE, 3) uint8."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(2):
        small = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        big = np.asarray(small.resize((SIDE, SIDE), Image.BICUBIC), dtype=np.int16)
        out.append(np.clip(big + rng.integers(-8, 9, big.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def apply(name, img, level, sign):
    """timm's AugmentOp at a fixed magnitude, its random negation forced."""
    hp = dict(aa._HPARAMS_DEFAULT, img_mean=(124, 116, 104))
    real = random.random
    random.random = lambda: 1.0 if sign < 0 else 0.0  # _randomly_negate: -v if random() > 0.5
    try:
        fn = aa.LEVEL_TO_ARG[name]
        args = fn(level, hp) if fn is not None else ()
    finally:
        random.random = real
    return aa.NAME_TO_OP[name](img, *args, fillcolor=(124, 116, 104), resample=Image.BICUBIC)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pil_rand_augment.h5")
    x = images()
    ops, levels, signs, outs = [], [], [], []
    for k, name in enumerate(OPS):
        for level, sign in CASES:
            ys = [np.asarray(apply(name, Image.fromarray(im), level, sign)) for im in x]
            ops.append(k), levels.append(level), signs.append(sign), outs.append(np.stack(ys))
    with h5py.File(path, "w") as f:
        f["input"] = x.transpose(0, 3, 1, 2)                                # (2, 3, H, W)
        f.create_dataset("output", data=np.stack(outs).transpose(0, 1, 4, 2, 3),  # (cases, 2, 3, H, W)
                         compression="gzip")
        f["op"] = np.array(ops, dtype=np.int64)
        f["level"] = np.array(levels, dtype=np.float64)
        f["sign"] = np.array(signs, dtype=np.float64)
        f.attrs["made_with"] = f"timm {sys.modules['timm'].__version__}, Pillow {PIL.__version__}"
    print(f"wrote {path}: {len(ops)} cases")


if __name__ == "__main__":
    main()
