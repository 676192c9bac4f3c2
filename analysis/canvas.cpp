#include "analysis/canvas.hpp"

#include <fmt/core.h>
#include <png.h>

#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <filesystem>
#include <map>
#include <memory>

#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"

namespace ldae {

Canvas::Canvas(int width, int height, Rgb background)
    : w_(width), h_(height), px_(size_t(width) * height, background) {}

void Canvas::fill(int x, int y, int w, int h, Rgb color) {
  for (int j = std::max(0, y); j < std::min(h_, y + h); ++j)
    for (int i = std::max(0, x); i < std::min(w_, x + w); ++i) px_[size_t(j) * w_ + i] = color;
}

void Canvas::image(const torch::Tensor& img_in, int x, int y, int scale, double lo, double hi) {
  auto img = img_in.detach().to(torch::kFloat64).contiguous();
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2);
  auto a = img.accessor<double, 3>();
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < W; ++c) {
      Rgb v;
      for (int k = 0; k < 3; ++k) {
        double u = (a[C == 3 ? k : 0][r][c] - lo) / (hi - lo);
        v[k] = uint8_t(std::lround(255.0 * std::min(1.0, std::max(0.0, u))));
      }
      fill(x + int(c) * scale, y + int(r) * scale, scale, scale, v);
    }
}

void Canvas::save_png(const std::string& path) const {
  write_file_atomically(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    // The reason in words: write_file_atomically tells a full disk by them.
    if (!f) throw InputError(fmt::format("{}: cannot write the picture ({})", path, std::strerror(errno)));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    errno = 0;  // set from here on by a failing write only, not by an earlier call
    if (setjmp(png_jmpbuf(png))) {
      // libpng's writes fail as "Write Error": the errno of its fwrite says
      // why (a full disk, a file size limit), which write_file_atomically reads.
      const int err = errno;
      png_destroy_write_struct(&png, &info);
      std::fclose(f);
      if (err != 0) throw std::system_error(err, std::generic_category(), "cannot write " + tmp);
      throw InputError(path + ": libpng failed while writing");
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w_, h_, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int j = 0; j < h_; ++j)
      png_write_row(png, reinterpret_cast<png_const_bytep>(px_.data() + size_t(j) * w_));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    // fclose flushes: a full disk shows here.
    if (std::fclose(f) != 0) throw std::system_error(errno, std::generic_category(), "cannot write " + tmp);
  });
}

torch::Tensor read_png(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open");
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    std::fclose(f);
    throw InputError(path + ": not a readable PNG");
  }
  png_init_io(png, f);
  png_read_info(png, info);
  const int w = int(png_get_image_width(png, info)), h = int(png_get_image_height(png, info));
  if (png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB || png_get_bit_depth(png, info) != 8) {
    png_destroy_read_struct(&png, &info, nullptr);
    std::fclose(f);
    throw InputError(path + ": expected 8-bit RGB");
  }
  auto out = torch::empty({h, w, 3}, torch::kUInt8);
  for (int j = 0; j < h; ++j) png_read_row(png, out[j].data_ptr<uint8_t>(), nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  std::fclose(f);
  return out;
}

}  // namespace ldae
