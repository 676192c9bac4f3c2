#include "core/data/whole_crop.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ldae {

double CropDraws::uniform() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

int64_t CropDraws::below(int64_t n) { return std::min<int64_t>(n - 1, int64_t(uniform() * double(n))); }

CropBox draw_crop_box(int H, int W, double scale_lo, double scale_hi, CropDraws& draws) {
  if (H < 1 || W < 1) throw std::invalid_argument("draw_crop_box: an empty image");
  const double area = double(H) * W, lo = std::log(3.0 / 4.0), hi = std::log(4.0 / 3.0);
  CropBox b;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * (scale_lo + (scale_hi - scale_lo) * draws.uniform());
    const double ratio = std::exp(lo + (hi - lo) * draws.uniform());
    // Python's round(): half to even, which nearbyint does in the default rounding mode.
    const int w = int(std::nearbyint(std::sqrt(target * ratio))), h = int(std::nearbyint(std::sqrt(target / ratio)));
    if (0 < w && w <= W && 0 < h && h <= H) {
      b.top = int(draws.below(H - h + 1)), b.left = int(draws.below(W - w + 1));
      b.height = h, b.width = w, found = true;
    }
  }
  if (!found) {  // the centre crop, its ratio clamped to [3/4, 4/3]
    const double in_ratio = double(W) / H;
    b.width = W, b.height = H;
    if (in_ratio < 3.0 / 4.0) b.height = int(std::nearbyint(W / (3.0 / 4.0)));
    else if (in_ratio > 4.0 / 3.0) b.width = int(std::nearbyint(H * (4.0 / 3.0)));
    b.top = (H - b.height) / 2, b.left = (W - b.width) / 2;
  }
  b.flip = draws.uniform() < 0.5;
  return b;
}

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Resample.c's PRECISION_BITS for 8-bit images

// Resample.c's bicubic_filter, a = -0.5 (support 2).
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Resample.c's precompute_coeffs for in_size samples -> out_size, then
// normalize_coeffs_8bpc: per output sample its first input (bounds[2o]),
// tap count (bounds[2o + 1]) and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;
  std::vector<int32_t> kk;
};
Coeffs precompute(int in_size, int out_size) {
  const double scale = double(in_size) / out_size, filterscale = std::max(1.0, scale);
  const double support = 2.0 * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.bounds.resize(size_t(out_size) * 2);
  c.kk.assign(size_t(out_size) * size_t(c.ksize), 0);
  std::vector<double> k(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5), xmax = int(center + support + 0.5);  // C's truncation, as there
    xmin = std::max(xmin, 0);
    xmax = std::min(xmax, in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) ww += (k[size_t(x)] = bicubic((x + xmin - center + 0.5) * ss));
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[size_t(x)] / ww : k[size_t(x)];
      c.kk[size_t(xx) * size_t(c.ksize) + size_t(x)] =
          int32_t(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.bounds[size_t(xx) * 2] = xmin, c.bounds[size_t(xx) * 2 + 1] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return uint8_t(in >> kPrecisionBits);
}

}  // namespace

namespace {

// One 8-bit pass over a plane: out[o] = clip8(sum_k in[(first + k) * step] w[k])
// for each output sample o of `c`, reading `in` at stride `step`.
void resample_line(const uint8_t* in, ptrdiff_t step, const Coeffs& c, int n_out, uint8_t* out, ptrdiff_t out_step) {
  for (int o = 0; o < n_out; ++o) {
    const int first = c.bounds[size_t(o) * 2], n = c.bounds[size_t(o) * 2 + 1];
    const int32_t* k = c.kk.data() + size_t(o) * size_t(c.ksize);
    int32_t ss = 1 << (kPrecisionBits - 1);
    for (int i = 0; i < n; ++i) ss += int32_t(in[(first + i) * step]) * k[i];
    out[o * out_step] = clip8(ss);
  }
}

}  // namespace

void pil_bicubic_resized_crop(const uint8_t* src, int C, int H, int W, const CropBox& box, int out_h, int out_w,
                              uint8_t* dst) {
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 || box.top + box.height > H ||
      box.left + box.width > W || out_h < 1 || out_w < 1)
    throw std::invalid_argument("pil_bicubic_resized_crop: the box is not inside the image");
  const int h = box.height, w = box.width;
  const Coeffs cx = precompute(w, out_w), cy = precompute(h, out_h);
  const bool horizontal = w != out_w, vertical = h != out_h;
  // Pillow 13 (Resample.c, ImagingResampleInner): the vertical pass first
  // when the height loses more than twice the pixels the width does; else
  // the horizontal pass first, over the rows [y0, y1) the vertical one reads.
  // Earlier Pillow always went horizontal first (the 8-bit intermediate
  // rounds differently: +-1 level at some pixels of such shapes).
  const bool vertical_first = h - out_h > 0 && h - out_h > 2 * (w - out_w);
  const int y0 = vertical_first ? 0 : cy.bounds[0];
  const int y1 = vertical_first ? h : cy.bounds[size_t(out_h) * 2 - 2] + cy.bounds[size_t(out_h) * 2 - 1];
  // The intermediate plane: (rows, cols) after the first pass.
  const int rows = vertical_first ? (vertical ? out_h : h) : (horizontal ? y1 - y0 : h);
  const int cols = vertical_first ? w : (horizontal ? out_w : w);
  std::vector<uint8_t> mid(size_t(rows) * size_t(cols));
  for (int c = 0; c < C; ++c) {
    const uint8_t* plane = src + (size_t(c) * H + size_t(box.top)) * W + box.left;  // the box, row stride W
    uint8_t* out = dst + size_t(c) * out_h * out_w;
    if (vertical_first) {
      for (int x = 0; x < w; ++x) resample_line(plane + x, W, cy, out_h, mid.data() + x, cols);
      for (int y = 0; y < out_h; ++y) {
        if (horizontal) resample_line(mid.data() + size_t(y) * cols, 1, cx, out_w, out + size_t(y) * out_w, 1);
        else std::copy_n(mid.data() + size_t(y) * cols, out_w, out + size_t(y) * out_w);
      }
    } else {
      const int first_row = horizontal ? y0 : 0;
      for (int r = 0; r < rows; ++r) {
        const uint8_t* row = plane + size_t(first_row + r) * W;
        if (horizontal) resample_line(row, 1, cx, out_w, mid.data() + size_t(r) * cols, 1);
        else std::copy_n(row, w, mid.data() + size_t(r) * cols);
      }
      // Rows of `mid` start at first_row of the box: the vertical taps shift by it.
      for (int x = 0; x < out_w; ++x) {
        if (!vertical) {
          for (int y = 0; y < out_h; ++y) out[size_t(y) * out_w + x] = mid[size_t(y) * cols + x];
          continue;
        }
        for (int y = 0; y < out_h; ++y) {
          const int first = cy.bounds[size_t(y) * 2] - first_row, n = cy.bounds[size_t(y) * 2 + 1];
          const int32_t* k = cy.kk.data() + size_t(y) * size_t(cy.ksize);
          int32_t ss = 1 << (kPrecisionBits - 1);
          for (int i = 0; i < n; ++i) ss += int32_t(mid[size_t(first + i) * cols + x]) * k[i];
          out[size_t(y) * out_w + x] = clip8(ss);
        }
      }
    }
    if (box.flip)
      for (int y = 0; y < out_h; ++y) std::reverse(out + size_t(y) * out_w, out + size_t(y + 1) * out_w);
  }
}

}  // namespace ldae
