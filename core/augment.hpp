// Training-time augmentation (paper Sec. 5: random resized crop helps l-DAE
// a little, 64.5 -> 65.0). Centre crop (no augmentation) is the default.
#pragma once
#include <torch/torch.h>

namespace ldae {

// Per image: a crop covering a uniform fraction in [scale_lo, 1] of the area
// with aspect ratio log-uniform in [3/4, 4/3] at a uniform position, resized
// back to H x W (bilinear), then a horizontal flip with probability 1/2.
// Draws from the global generator (the trainer seeds it per step).
// images (B, C, H, W) -> (B, C, H, W)
torch::Tensor random_resized_crop_flip(const torch::Tensor& images, double scale_lo = 0.2);

}  // namespace ldae
