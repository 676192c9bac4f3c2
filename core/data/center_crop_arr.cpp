#include "core/data/center_crop_arr.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "core/data/whole_crop.hpp"

namespace ldae {
namespace {

// Pillow's im.resize((w, h), filter) of the whole image.
ImageSet pil_resize(const ImageSet& im, int h, int w, PilFilter filter) {
  ImageSet out;
  out.n = 1, out.c = im.c, out.h = h, out.w = w;
  out.pixels.resize(size_t(im.c) * size_t(h) * size_t(w));
  pil_resized_crop(im.pixels.data(), im.c, im.h, im.w, CropBox{0, 0, im.h, im.w, false}, h, w, out.pixels.data(),
                   filter);
  return out;
}

}  // namespace

ImageSet center_crop_arr_resize(const ImageSet& one_image, int side) {
  if (one_image.n != 1 || side < 1 || one_image.h < 1 || one_image.w < 1)
    throw std::invalid_argument("center_crop_arr_resize: one non-empty image and side >= 1");
  // Each halving is a new image (center_crop_arr rebinds pil_image); the
  // first is made from one_image without copying it.
  ImageSet cur;
  const ImageSet* at = &one_image;
  while (std::min(at->h, at->w) >= 2 * side) {
    cur = pil_resize(*at, at->h / 2, at->w / 2, PilFilter::kBox);
    at = &cur;
  }
  const double scale = double(side) / std::min(at->h, at->w);
  // Python's round() of a float: half to even, as nearbyint in the default mode.
  const int h = int(std::nearbyint(at->h * scale)), w = int(std::nearbyint(at->w * scale));
  return pil_resize(*at, h, w, PilFilter::kBicubic);
}

}  // namespace ldae
