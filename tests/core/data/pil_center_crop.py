"""Writes tests/core/data/pil_center_crop.h5: DiT's centre crop
(train.py's center_crop_arr, from ADM's guided_diffusion/image_datasets.py)
on PIL images, the reference for CenterCropArr.* (test_center_crop_arr.cpp)
and data.resize = "dit".

The rule: while the shorter side is at least twice `side`, Pillow's BOX
resize to (w // 2, h // 2); then Pillow's BICUBIC resize to
(round(w * s), round(h * s)), s = side / min(w, h); then the centre
side x side at ((h - side) // 2, (w - side) // 2).

Resize cases: one RGB image (smooth random colours plus a little noise)
and a side; the file keeps the image, the resized whole image (before the
crop) and the crop. They cover no halving, one and two halvings, a
halving that lands on the side (then no resize at all), enlarging, a
square, a panorama, a tall image whose resize runs the vertical pass
first, and a product x * s that is exactly k + 1/2 (Python rounds it to
even).

JPEG cases: a file Pillow wrote (4:2:0, 4:2:2 and 4:4:4 chroma, grey,
progressive), its bytes, and Pillow's decode convert("RGB"), so the test
can check the decoder too, and the crop of that decode.

Rerun with the project's Python (its Pillow) to rebuild:

    ~/.cache/ldae/torch-2.11.0/bin/python tests/core/data/pil_center_crop.py
"""
import io
import os
import sys

import h5py
import numpy as np
import PIL
from PIL import Image

# (image height, width), side
RESIZE_CASES = [
    ((45, 60), 20),     # one halving (45 >= 40), then bicubic 22 -> 20
    ((100, 66), 16),    # two halvings: 66 -> 33 -> 16, already the side: no resize
    ((20, 150), 16),    # a panorama, no halving, shrunk
    ((31, 45), 32),     # enlarged
    ((32, 32), 16),     # a square halved straight onto the side
    ((65, 49), 16),     # halved to 32 x 24 (floors), then 24 -> 16
    ((150, 37), 12),    # tall: one halving, then the vertical pass first
    ((32, 36), 20),     # 36 * 0.625 = 22.5 exactly: rounded to 22 (half to even)
    ((50, 50), 50),     # already at the side: copied
]
# (height, width, side, Pillow save options, grey)
JPEG_CASES = [
    (60, 80, 24, {"quality": 90, "subsampling": 2}, False),    # 4:2:0
    (47, 33, 16, {"quality": 85, "subsampling": 1}, False),    # 4:2:2, odd sides
    (40, 56, 16, {"quality": 95, "subsampling": 0}, False),    # 4:4:4
    (45, 61, 20, {"quality": 90}, True),                       # grey
    (49, 70, 20, {"quality": 80, "progressive": True}, False),
]


def image(h, w, rng):
    """A smooth RGB image (a 4 x 4 grid of random colours, bicubically
    enlarged, plus a little noise), (h, w, 3) uint8."""
    small = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    big = np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.int16)
    return np.clip(big + rng.integers(-12, 13, big.shape), 0, 255).astype(np.uint8)


def dit_resize(pil, side):
    """center_crop_arr's resizes: the whole image before its crop."""
    while min(pil.size) >= 2 * side:
        pil = pil.resize((pil.size[0] // 2, pil.size[1] // 2), resample=Image.BOX)
    s = side / min(pil.size)
    return pil.resize((round(pil.size[0] * s), round(pil.size[1] * s)), resample=Image.BICUBIC)


def centre(arr, side):
    y, x = (arr.shape[0] - side) // 2, (arr.shape[1] - side) // 2
    return arr[y:y + side, x:x + side]


def chw(arr):
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def put(g, name, arr):
    g[name] = arr


def main():
    rng = np.random.default_rng(0)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pil_center_crop.h5")
    with h5py.File(out, "w") as f:
        f.attrs["pillow"] = PIL.__version__
        for k, ((h, w), side) in enumerate(RESIZE_CASES):
            im = image(h, w, rng)
            whole = np.asarray(dit_resize(Image.fromarray(im), side))
            g = f.create_group(f"resize{k}")
            g["side"] = np.array([side], dtype=np.int64)
            put(g, "image", chw(im))
            put(g, "whole", chw(whole))
            put(g, "crop", chw(centre(whole, side)))
        for k, (h, w, side, opts, grey) in enumerate(JPEG_CASES):
            im = Image.fromarray(image(h, w, rng))
            if grey:
                im = im.convert("L")
            buf = io.BytesIO()
            im.save(buf, format="JPEG", **opts)
            decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
            g = f.create_group(f"jpeg{k}")
            g["side"] = np.array([side], dtype=np.int64)
            put(g, "file", np.frombuffer(buf.getvalue(), dtype=np.uint8))
            put(g, "decoded", chw(np.asarray(decoded)))
            put(g, "crop", chw(centre(np.asarray(dit_resize(decoded, side)), side)))
        f.attrs["resize_cases"] = len(RESIZE_CASES)
        f.attrs["jpeg_cases"] = len(JPEG_CASES)
    print(f"wrote {out}: {len(RESIZE_CASES)} resize and {len(JPEG_CASES)} JPEG cases, Pillow {PIL.__version__}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
