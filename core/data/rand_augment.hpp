// RandAugment as MAE fine-tunes with it (main_finetune.py: timm's
// create_transform(auto_augment="rand-m9-mstd0.5-inc1", interpolation=
// "bicubic")): Cubuk et al. 2020, in timm's variant (timm/data/auto_augment.py,
// RandAugment over _RAND_INCREASING_TRANSFORMS). Per image, n operations
// drawn uniformly with replacement from the fifteen below; each applies with
// probability 1/2 at a magnitude ~ N(m, mstd) clipped to [0, 10]; signed
// operations negate their level with probability 1/2.
//
// Images are worked on as PIL does (core/data/pil_ops.hpp), in 8-bit levels:
// the input in [0, 1] is rounded to 1/255. The geometric operations resample
// with PIL's bicubic and fill what they uncover with timm's img_mean:
// ImageNet's mean (124, 116, 104) on RGB, 128 (timm's _FILL) on one channel.
// One task per image over the intra-op threads (at::parallel_for).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ldae {

struct RandAugmentSpec {
  int64_t n = 2;        // operations per image ("n"; timm's default 2)
  double m = 9;         // magnitude, 0..10 ("m9")
  double mstd = 0.5;    // the magnitude's per-call standard deviation ("mstd0.5"); 0: fixed
};

// The operations, in timm's _RAND_INCREASING_TRANSFORMS order (the "inc1" set).
enum class RaOp : int {
  AutoContrast, Equalize, Invert, Rotate, Posterize, Solarize, SolarizeAdd, Color, Contrast,
  Brightness, Sharpness, ShearX, ShearY, TranslateX, TranslateY
};
constexpr int kRaOps = 15;
std::string ra_op_name(RaOp op);

// One operation on images (b, C, H, W) in 8-bit levels (floats 0..255,
// rounded),
// each image at its own magnitude level (b,) in [0, 10] and sign (b,) of +-1
// (used by Rotate, the enhancements, shears and translations), as timm's
// level-to-argument functions map them:
//   Rotate       sign x level/10 x 30 degrees, counter-clockwise about the centre
//   Posterize    keep 4 - int(level/10 x 4) high bits
//   Solarize     invert levels >= 256 - int(level/10 x 256)
//   SolarizeAdd  add int(level/10 x 110) to levels below 128 (clipped at 255)
//   Color, Contrast, Brightness, Sharpness: PIL's ImageEnhance at factor
//                max(0.1, 1 + sign x level/10 x 0.9)
//   ShearX/Y     sign x level/10 x 0.3 (PIL's affine, about the top-left corner)
//   TranslateX/Y sign x level/10 x 0.45 of the side
// AutoContrast, Equalize and Invert take no level (ImageOps). Returns
// (b, C, H, W) in whole levels 0..255.
torch::Tensor ra_apply(RaOp op, const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& sign);

// RandAugment of images (B, C, H, W) in [0, 1] -> (B, C, H, W) in [0, 1],
// on the 1/255 grid. Draws from the global generator: per round, the
// operation (B,), the apply coin, the magnitude and the sign, for every
// image whatever the coin says (the stream depends on B and n only).
// spec.n = 0 returns the images as they are.
torch::Tensor rand_augment(const torch::Tensor& images, const RandAugmentSpec& spec,
                           std::optional<at::Generator> gen = std::nullopt);
// The same in place, on contiguous float32 host images (c10::Error
// otherwise): what fine-tuning calls on each batch, allocating nothing
// batch-sized.
// `gen`: the generator drawn from (default: the global one).
void rand_augment_(torch::Tensor& images, const RandAugmentSpec& spec,
                   std::optional<at::Generator> gen = std::nullopt);

}  // namespace ldae
