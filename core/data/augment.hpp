// Training-time augmentation (paper Sec. 5: random resized crop helps l-DAE
// a little, 64.5 -> 65.0). Centre crop (no augmentation) is the default.
#pragma once
#include <torch/torch.h>

namespace ldae {

// The smallest area fraction of the pre-training crop (data.augment =
// rrc_flip): MAE's main_pretrain.py, RandomResizedCrop(scale=(0.2, 1.0)).
constexpr double kDataCropScale = 0.2;

// Per image: a crop covering a uniform fraction in [scale_lo, 1] of the area
// with aspect ratio log-uniform in [3/4, 4/3] at a uniform position, resized
// back to H x W (bilinear), then a horizontal flip with probability 1/2.
// Draws from `gen`, else the global generator (the trainer seeds it per
// step). images (B, C, H, W) -> (B, C, H, W), or (B, C, out_side, out_side)
// when out_side > 0 (DINO's local crops at their own size; the draws are the same).
torch::Tensor random_resized_crop_flip(const torch::Tensor& images, double scale_lo = kDataCropScale,
                                       double scale_hi = 1.0, int64_t out_side = 0,
                                       std::optional<at::Generator> gen = std::nullopt);

// One view of the self-supervised baselines (methods/): a random resized
// crop covering [scale_lo, scale_hi] of the area (+ flip), then, each with
// its own probability per image, colour jitter (brightness and contrast
// factors uniform in [1 - s, 1 + s]; on RGB images also saturation, same
// form, and a hue shift uniform in [-hue, hue] turns: torchvision's
// ColorJitter, in that fixed order or, with random_order, each image's own
// random permutation of the four as torchvision draws it),
// grayscale, a Gaussian blur (sigma uniform in [0.1, 2.0] pixels at 224 px,
// scaled to the image side) and solarisation (x -> 1 - x above 1/2, in
// [0, 1] units). Saturation, hue and grayscale default to 0 (off, no
// draws): the official recipes' 0.2, 0.1 and p 0.2 (MoCo v3 main_moco.py,
// DINO main_dino.py) are keys of those methods.
struct ViewSpec {
  double scale_lo = 0.08, scale_hi = 1.0;
  double jitter_p = 0.8, brightness = 0.4, contrast = 0.4;
  double saturation = 0.0, hue = 0.0;
  bool random_order = false;  // ColorJitter's per-image order (the official views)
  int64_t out_side = 0;       // > 0: the view's side in pixels (DINO's local crops); 0: the input's
  double grayscale_p = 0.0;
  double blur_p = 0.0;
  double solarize_p = 0.0;
};
// Colour operations on RGB images (B, 3, H, W) in [0, 1], per image
// (factor, shift: (B,)), as torchvision.transforms.functional: grayscale
// is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B in every channel;
// contrast blends each image with its mean luma (the mean on one channel);
// saturation blends each image with its grayscale (0: grey, 1: as is);
// hue rotates the hue of HSV by `shift` turns. Images of another channel
// count are returned as they are.
torch::Tensor grayscale(const torch::Tensor& x);
torch::Tensor adjust_contrast(const torch::Tensor& x, const torch::Tensor& factor);
torch::Tensor adjust_saturation(const torch::Tensor& x, const torch::Tensor& factor);
torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift);
// torchvision's ColorJitter with its factors drawn: brightness (x b),
// contrast (c), saturation (sat), hue (hue), in that order or, with
// random_order, each image its own permutation of the four, drawn here
// (its get_params: torch.randperm(4) per image) as torch::rand({B, 4})
// .argsort(1). sat / hue undefined: off. x (B, C, H, W) in [0, 1]; b, c
// (B, 1, 1, 1); sat, hue (B,) -> (B, C, H, W) in [0, 1].
torch::Tensor color_jitter(const torch::Tensor& x, const torch::Tensor& b, const torch::Tensor& c,
                           const torch::Tensor& sat, const torch::Tensor& hue, bool random_order);
// MoCo v3's and BYOL's asymmetric pair (view 1 always blurred, view 2
// rarely, and solarised 1 time in 5); DINO's global views are the same pair
// at scale [0.4, 1] and its local views [0.05, 0.4] with blur p 1/2.
ViewSpec moco_view(int which);                  // which = 1 or 2
ViewSpec dino_view(int which, bool local);      // global which = 1 or 2
// images (B, C, H, W) in [-1, 1] (normalized) or [0, 1] -> (B, C, H, W) in
// the same range. Draws from the global generator (the trainer seeds it per
// step, so a resumed run draws the same views).
torch::Tensor augment_view(const torch::Tensor& images, const ViewSpec& v, bool normalized);
// The view's steps after its crop, on crops (B, C, S, S) already cut (and
// flipped) from images of side `source_side` (the blur's scale): what
// augment_view does after random_resized_crop_flip, the same draws.
torch::Tensor augment_cropped_view(const torch::Tensor& crops, const ViewSpec& v, bool normalized,
                                   int64_t source_side);

}  // namespace ldae
