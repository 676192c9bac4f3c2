// DiT's centre crop (train.py's center_crop_arr, ADM's
// guided_diffusion/image_datasets.py) to the byte: the rule data.resize =
// "dit" prepares image_folder images with (core/data/data.hpp ResizeRule).
#pragma once

#include "core/data/data.hpp"

namespace ldae {

// The image center_crop_arr crops, (C, H, W) -> (C, h, w) with
// min(h, w) = side: while min(H, W) >= 2 x side, Pillow's
// Image.resize((W // 2, H // 2), BOX); then Image.resize((round(w' * s),
// round(h' * s)), BICUBIC) with s = side / min(h', w') in double precision
// and Python's half-to-even round (core/data/whole_crop.hpp pil_resized_crop:
// Resample.c's 8-bit passes). An image already at that size is copied.
// Its centre square at ((h - side) / 2, (w - side) / 2) is
// center_crop_arr's output. one_image.n must be 1; side >= 1.
ImageSet center_crop_arr_resize(const ImageSet& one_image, int side);

}  // namespace ldae
