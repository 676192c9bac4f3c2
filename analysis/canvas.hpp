// A small RGB canvas for the harness's pictures: image panels (nearest-
// neighbour upscaled), labels in a built-in 5 x 7 pixel font, written as PNG
// with libpng. No plotting library: figures must work on a bare machine.
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
  // Text in the 5 x 7 font, each font pixel a scale x scale block; letters
  // are drawn upper case. Returns the width drawn.
  int text(const std::string& s, int x, int y, int scale = 1, Rgb color = {0, 0, 0});
  static int text_width(const std::string& s, int scale = 1) { return int(s.size()) * 6 * scale; }
  static int text_height(int scale = 1) { return 7 * scale; }
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
