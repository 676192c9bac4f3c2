// Random erasing as MAE fine-tunes with it (main_finetune.py: --reprob 0.25,
// --remode pixel, --recount 1; timm/data/random_erasing.py, after Zhong et
// al. 2020). With probability p per image, one rectangle of area uniform in
// [0.02, 1/3] of the image and aspect ratio log-uniform in [0.3, 1/0.3]
// (h = round(sqrt(area x aspect)), w = round(sqrt(area / aspect)); up to 10
// tries until h < H and w < W, else the image stays) at a uniform position
// takes per-pixel normal noise.
//
// timm draws the noise as N(0, 1) after Normalize(ImageNet mean, std), so the
// erased pixels are mean_c + std_c N(0, 1) in [0, 1] units; that is what they
// are here, whatever the images' own scaling (one channel: the channels'
// averages, 0.449 and 0.226).
#pragma once
#include <torch/torch.h>

namespace ldae {

// images (B, C, H, W) in [0, 1] -> (B, C, H, W) (a new tensor); erased
// pixels are not clipped (timm's are not). Draws from the global generator,
// the same number for every image whatever its coin says: per image the
// coin, 10 areas and 10 aspects, the position and a seed from which the
// rectangle's noise is drawn (so only erased pixels cost a draw). p = 0
// returns the images as they are (and draws nothing). `gen`: the generator
// drawn from (default: the global one).
torch::Tensor random_erasing(const torch::Tensor& images, double p, std::optional<at::Generator> gen = std::nullopt);
// The same in place (the same draws).
void random_erasing_(torch::Tensor& images, double p, std::optional<at::Generator> gen = std::nullopt);

}  // namespace ldae
