// The official recipes' random resized crop, cut from the whole image
// (data.whole_images): torchvision's RandomResizedCrop on a PIL image, as
// MAE (main_pretrain.py, main_linprobe.py: RandomResizedCrop(..., interpolation=3)),
// MoCo v3 and DINO apply it, then RandomHorizontalFlip. Where the images are
// kept only as their centre squares, the crops stay those of
// random_resized_crop_flip (core/data/augment.hpp: bilinear, on the square).
#pragma once
#include <cstdint>
#include <vector>

namespace ldae {

// A crop of an image: rows [top, top + height), columns [left, left + width),
// mirrored left-right after resizing when flip.
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
};

// A seeded stream of uniform numbers for one image's draws (splitmix64:
// the same numbers on every machine and library version).
class CropDraws {
 public:
  explicit CropDraws(uint64_t seed) : s_(seed) {}
  double uniform();                    // [0, 1), 53 bits
  int64_t below(int64_t n);            // [0, n), n >= 1
 private:
  uint64_t s_;
};

// torchvision's RandomResizedCrop.get_params (transforms.py) on an H x W
// image: up to 10 tries of an area fraction uniform in [scale_lo, scale_hi]
// and an aspect ratio log-uniform in [3/4, 4/3], sides rounded half to even
// as Python's round(), kept when they fit, at a uniform position; else the
// centre crop with the ratio clamped to [3/4, 4/3]. Then a flip with
// probability 1/2 (RandomHorizontalFlip). H, W >= 1.
CropBox draw_crop_box(int H, int W, double scale_lo, double scale_hi, CropDraws& draws);

// Pillow's resampling filters (libImaging/Resample.c): BOX (support 0.5),
// BICUBIC (the a = -0.5 cubic, support 2).
enum class PilFilter { kBox, kBicubic };

// Pillow's Image.resize(filter) (libImaging/Resample.c, 8 bits a sample)
// of one channel-major image src (C, H, W) cropped to `box` first (as
// torchvision's resized_crop: img.crop, then resize, so the filter never
// reads outside the box) -> dst (C, out_h, out_w): the filter widened by
// the scale when shrinking (antialiased), weights in 22-bit fixed point,
// rounded to 8 bits between the passes, whose order is Pillow 13's:
// vertical first when the height loses more than twice the pixels the
// width does, else horizontal first (earlier Pillow: always horizontal
// first). Flips the result when box.flip. std::invalid_argument for a box
// outside the image or an empty output.
void pil_resized_crop(const uint8_t* src, int C, int H, int W, const CropBox& box, int out_h, int out_w, uint8_t* dst,
                      PilFilter filter);
// The crops' resize: pil_resized_crop with BICUBIC (torchvision's
// RandomResizedCrop(interpolation=BICUBIC) on a PIL image).
inline void pil_bicubic_resized_crop(const uint8_t* src, int C, int H, int W, const CropBox& box, int out_h,
                                     int out_w, uint8_t* dst) {
  pil_resized_crop(src, C, H, W, box, out_h, out_w, dst, PilFilter::kBicubic);
}

}  // namespace ldae
