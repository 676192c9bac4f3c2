// The 8-bit image operations timm's RandAugment calls, as Pillow computes
// them (ImageOps, ImageEnhance, Image.transform; src/libImaging/Geometry.c,
// Filter.c, Blend.c, Convert.c), on one image held as C planes of H x W
// levels (channel-major: a contiguous torch (C, H, W) uint8 tensor). Each
// works in place. On three channels the image is RGB; on one, PIL's "L".
#pragma once
#include <array>
#include <cstdint>

namespace ldae::pil {

struct Image8 {
  uint8_t* px;  // (C, H, W) levels
  int64_t C, H, W;
};

// Convert.c's RGB -> L: (19595 R + 38470 G + 7471 B + 2^15) >> 16.
uint8_t luma(uint8_t r, uint8_t g, uint8_t b);

// ImageOps.autocontrast (cutoff 0): each channel's [lo, hi] -> [0, 255] by
// int(v x 255 / (hi - lo) - lo x 255 / (hi - lo)); a flat channel stays.
void auto_contrast(Image8 im);
// ImageOps.equalize: per channel, step = (n - h[last non-empty level]) // 255,
// level i -> (step // 2 + sum_{j < i} h[j]) // step (at most 255); a channel
// with one level or step 0 stays.
void equalize(Image8 im);
void invert(Image8 im);                              // 255 - v
void posterize(Image8 im, int bits);                 // keep the `bits` high bits (0: black)
void solarize(Image8 im, int threshold);             // v >= threshold -> 255 - v
void solarize_add(Image8 im, int add, int threshold = 128);  // v < threshold -> min(255, v + add)

// ImageEnhance: Image.blend(degenerate, image, factor), i.e. trunc(d +
// factor (v - d)) clipped to [0, 255] in single precision (Blend.c), with
// the degenerate image black (Brightness), the flat grey of int(mean luma +
// 0.5) (Contrast), the luma (Color; one channel: itself) or SMOOTH's 3 x 3
// filter (1 1 1 / 1 5 1 / 1 1 1, / 13, rounded, a one-pixel border kept:
// Filter.c) (Sharpness).
void brightness(Image8 im, float factor);
void contrast(Image8 im, float factor);
void color(Image8 im, float factor);
void sharpness(Image8 im, float factor);

// Image.transform(AFFINE, a, BICUBIC, fillcolor): the output pixel (x, y)
// samples the input at (a0 x' + a1 y' + a2, a3 x' + a4 y' + a5), x' = x + 1/2,
// y' = y + 1/2; a point outside the image takes `fill` (per channel); inside,
// Geometry.c's bicubic (the a = -1 cubic, edge pixels repeated), clipped and
// truncated.
void affine(Image8 im, const std::array<double, 6>& a, const std::array<uint8_t, 3>& fill);
// Image.rotate(degrees, BICUBIC, fillcolor): counter-clockwise about (W / 2, H / 2).
void rotate(Image8 im, double degrees, const std::array<uint8_t, 3>& fill);

}  // namespace ldae::pil
