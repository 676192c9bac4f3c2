#include "core/augment.hpp"

#include <cmath>

namespace ldae {

torch::Tensor random_resized_crop_flip(const torch::Tensor& images, double scale_lo) {
  const int64_t B = images.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto area = torch::rand({B}, opts) * (1.0 - scale_lo) + scale_lo;
  auto log_ratio = (torch::rand({B}, opts) * 2 - 1) * std::log(4.0 / 3.0);
  auto ratio = log_ratio.exp();
  // Crop width and height as fractions of the image (clipped to fit).
  auto w = (area * ratio).sqrt().clamp_max(1.0), h = (area / ratio).sqrt().clamp_max(1.0);
  // Centres in normalised [-1, 1] coordinates so the crop stays inside.
  auto cx = (torch::rand({B}, opts) * 2 - 1) * (1 - w), cy = (torch::rand({B}, opts) * 2 - 1) * (1 - h);
  auto flip = torch::where(torch::rand({B}, opts) < 0.5, torch::full({B}, -1.0f), torch::full({B}, 1.0f));
  auto zero = torch::zeros({B}, opts);
  // theta maps output coordinates to input ones: x_in = w flip x_out + cx.
  auto theta = torch::stack({torch::stack({w * flip, zero, cx}, 1), torch::stack({zero, h, cy}, 1)}, 1);
  auto grid = torch::nn::functional::affine_grid(theta.to(images.device()), images.sizes(), false);
  return torch::nn::functional::grid_sample(
      images, grid,
      torch::nn::functional::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

}  // namespace ldae
