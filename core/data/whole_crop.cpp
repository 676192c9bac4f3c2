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

// Resample.c's box_filter (support 0.5).
double box(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

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
Coeffs precompute(int in_size, int out_size, PilFilter filter) {
  double (*const f)(double) = filter == PilFilter::kBox ? box : bicubic;
  const double scale = double(in_size) / out_size, filterscale = std::max(1.0, scale);
  const double support = (filter == PilFilter::kBox ? 0.5 : 2.0) * filterscale;
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
    for (int x = 0; x < xmax; ++x) ww += (k[size_t(x)] = f((x + xmin - center + 0.5) * ss));
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

// Resample.c's horizontal pass on `rows` rows of each of C planes of `in`
// (row stride in_stride, plane stride in_plane) into rows of n_out samples
// (out_stride, out_plane): the channels of a pixel share its taps, as
// Pillow's interleaved loop does.
void horizontal_pass(const uint8_t* in, ptrdiff_t in_stride, ptrdiff_t in_plane, int C, int rows, const Coeffs& c,
                     int n_out, uint8_t* out, ptrdiff_t out_stride, ptrdiff_t out_plane) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  for (int r = 0; r < rows; ++r)
    for (int x = 0; x < n_out; ++x) {
      const int first = c.bounds[size_t(x) * 2], n = c.bounds[size_t(x) * 2 + 1];
      const int32_t* k = c.kk.data() + size_t(x) * size_t(c.ksize);
      if (C == 3) {  // RGB unrolled: the loop below ran 0.74-0.97x its speed (bench_crops, 4 pairs)
        const uint8_t* p0 = in + r * in_stride + first;
        const uint8_t *p1 = p0 + in_plane, *p2 = p1 + in_plane;
        int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
        for (int i = 0; i < n; ++i)
          s0 += int32_t(p0[i]) * k[i], s1 += int32_t(p1[i]) * k[i], s2 += int32_t(p2[i]) * k[i];
        uint8_t* o = out + r * out_stride + x;
        o[0] = clip8(s0), o[out_plane] = clip8(s1), o[2 * out_plane] = clip8(s2);
        continue;
      }
      for (int ch = 0; ch < C; ++ch) {
        const uint8_t* p = in + ch * in_plane + r * in_stride + first;
        int32_t ss = kHalf;
        for (int i = 0; i < n; ++i) ss += int32_t(p[i]) * k[i];
        out[ch * out_plane + r * out_stride + x] = clip8(ss);
      }
    }
}

// Resample.c's vertical pass: output row y sums input rows bounds[2y] - shift
// onwards, each weighted, a whole row at a time (the compiler vectorises
// the inner loop over columns; the sums are Pillow's, in another order of
// the same integer additions).
// Built for AVX2 too (its 32-bit multiplies), chosen at run time.
__attribute__((target_clones("avx2", "default"))) void vertical_pass(const uint8_t* in, ptrdiff_t in_stride,
                                                                     int shift, int width, const Coeffs& c, int n_out,
                                                                     uint8_t* out, ptrdiff_t out_stride,
                                                                     std::vector<int32_t>& acc) {
  acc.resize(size_t(width));
  for (int y = 0; y < n_out; ++y) {
    const int first = c.bounds[size_t(y) * 2] - shift, n = c.bounds[size_t(y) * 2 + 1];
    const int32_t* k = c.kk.data() + size_t(y) * size_t(c.ksize);
    std::fill(acc.begin(), acc.end(), int32_t(1) << (kPrecisionBits - 1));
    for (int i = 0; i < n; ++i) {
      const uint8_t* row = in + (first + i) * in_stride;
      const int32_t w = k[i];
      int32_t* a = acc.data();
      for (int x = 0; x < width; ++x) a[x] += int32_t(row[x]) * w;
    }
    uint8_t* o = out + y * out_stride;
    for (int x = 0; x < width; ++x) o[x] = clip8(acc[size_t(x)]);
  }
}

}  // namespace

void pil_resized_crop(const uint8_t* src, int C, int H, int W, const CropBox& box, int out_h, int out_w, uint8_t* dst,
                      PilFilter filter) {
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 || box.top + box.height > H ||
      box.left + box.width > W || out_h < 1 || out_w < 1)
    throw std::invalid_argument("pil_resized_crop: the box is not inside the image");
  const int h = box.height, w = box.width;
  const Coeffs cx = precompute(w, out_w, filter), cy = precompute(h, out_h, filter);
  const bool horizontal = w != out_w, vertical = h != out_h;
  // Pillow 13 (Resample.c, ImagingResampleInner): the vertical pass first
  // when the height loses more than twice the pixels the width does; else
  // the horizontal pass first, over the rows [y0, y1) the vertical one reads.
  // Earlier Pillow always went horizontal first (the 8-bit intermediate
  // rounds differently: +-1 level at some pixels of such shapes).
  const bool vertical_first = h - out_h > 0 && h - out_h > 2 * (w - out_w);
  const int y0 = cy.bounds[0], y1 = cy.bounds[size_t(out_h) * 2 - 2] + cy.bounds[size_t(out_h) * 2 - 1];
  std::vector<uint8_t> mid;
  std::vector<int32_t> acc;
  const uint8_t* box_src = src + size_t(box.top) * W + box.left;  // plane 0 of the box, row stride W
  const ptrdiff_t src_plane = ptrdiff_t(H) * W, dst_plane = ptrdiff_t(out_h) * out_w;
  if (!horizontal && !vertical) {
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < h; ++y) std::copy_n(box_src + c * src_plane + y * W, w, dst + c * dst_plane + y * out_w);
  } else if (!horizontal) {
    for (int c = 0; c < C; ++c)
      vertical_pass(box_src + c * src_plane, W, 0, w, cy, out_h, dst + c * dst_plane, out_w, acc);
  } else if (!vertical) {
    horizontal_pass(box_src, W, src_plane, C, h, cx, out_w, dst, out_w, dst_plane);
  } else if (vertical_first) {
    const ptrdiff_t mid_plane = ptrdiff_t(out_h) * w;
    mid.resize(size_t(C) * size_t(mid_plane));
    for (int c = 0; c < C; ++c)
      vertical_pass(box_src + c * src_plane, W, 0, w, cy, out_h, mid.data() + c * mid_plane, w, acc);
    horizontal_pass(mid.data(), w, mid_plane, C, out_h, cx, out_w, dst, out_w, dst_plane);
  } else {
    const ptrdiff_t mid_plane = ptrdiff_t(y1 - y0) * out_w;
    mid.resize(size_t(C) * size_t(mid_plane));
    horizontal_pass(box_src + ptrdiff_t(y0) * W, W, src_plane, C, y1 - y0, cx, out_w, mid.data(), out_w, mid_plane);
    for (int c = 0; c < C; ++c)
      vertical_pass(mid.data() + c * mid_plane, out_w, y0, out_w, cy, out_h, dst + c * dst_plane, out_w, acc);
  }
  if (box.flip)
    for (int r = 0; r < C * out_h; ++r) std::reverse(dst + ptrdiff_t(r) * out_w, dst + ptrdiff_t(r + 1) * out_w);
}

}  // namespace ldae
