// A small RGB canvas: image pixels (nearest-neighbour upscaled) written as PNG
// with libpng. show_noise's panels are these; gnuplot lays them out and
// writes the text (analysis/panels.hpp).
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ldae {

using Rgb = std::array<uint8_t, 3>;

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }

  // Draw an image (C, H, W) with C = 1 or 3 at (x, y), each pixel a
  // scale x scale block; values map linearly from [lo, hi] to [0, 255]
  // (clamped).
  void image(const torch::Tensor& img, int x, int y, int scale, double lo, double hi);
  void fill(int x, int y, int w, int h, Rgb color);

  const Rgb& at(int x, int y) const { return px_[size_t(y) * w_ + x]; }
  // Atomic write (temporary file, then rename). InputError when the folder
  // cannot be written.
  void save_png(const std::string& path) const;

 private:
  int w_, h_;
  std::vector<Rgb> px_;
};

// Read a PNG written by save_png (8-bit RGB) back: (H, W, 3) uint8. For tests.
torch::Tensor read_png(const std::string& path);

}  // namespace ldae
