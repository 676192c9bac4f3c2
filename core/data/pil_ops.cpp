#include "core/data/pil_ops.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ldae::pil {
namespace {

int64_t plane(const Image8& im) { return im.H * im.W; }

// A lookup table per channel, as Image.point.
template <class Lut>
void apply_lut(Image8 im, Lut&& lut_of_channel) {
  for (int64_t c = 0; c < im.C; ++c) {
    const std::array<uint8_t, 256> lut = lut_of_channel(c);
    uint8_t* p = im.px + c * plane(im);
    for (int64_t i = 0; i < plane(im); ++i) p[i] = lut[p[i]];
  }
}

template <class F>
void apply_lut_all(Image8 im, F&& f) {
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(f(v));
  apply_lut(im, [&](int64_t) { return lut; });
}

// Blend.c: (UINT8)(d + alpha (v - d)), clipped first when alpha leaves [0, 1].
uint8_t blend(uint8_t d, uint8_t v, float alpha) {
  const float t = float(int(d)) + alpha * float(int(v) - int(d));
  return t <= 0.0f ? 0 : t >= 255.0f ? 255 : uint8_t(t);
}

// The degenerate image of Color and Contrast: the luma plane (H x W).
std::vector<uint8_t> luma_plane(const Image8& im) {
  std::vector<uint8_t> l(size_t(plane(im)));
  const int64_t n = plane(im);
  if (im.C != 3) {
    std::copy(im.px, im.px + n, l.begin());
    return l;
  }
  for (int64_t i = 0; i < n; ++i) l[size_t(i)] = luma(im.px[i], im.px[n + i], im.px[2 * n + i]);
  return l;
}

// Geometry.c's BICUBIC: the a = -1 cubic through v1..v4 at d in [0, 1).
double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

}  // namespace

uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595 + uint32_t(g) * 38470 + uint32_t(b) * 7471 + 0x8000) >> 16);
}

void auto_contrast(Image8 im) {
  apply_lut(im, [&](int64_t c) {
    const uint8_t* p = im.px + c * plane(im);
    const auto [lo, hi] = std::minmax_element(p, p + plane(im));
    std::array<uint8_t, 256> lut;
    for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(v);
    if (*hi <= *lo) return lut;
    const double scale = 255.0 / double(*hi - *lo), offset = -double(*lo) * scale;
    for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(std::clamp(int(double(v) * scale + offset), 0, 255));
    return lut;
  });
}

void equalize(Image8 im) {
  apply_lut(im, [&](int64_t c) {
    const uint8_t* p = im.px + c * plane(im);
    std::array<int64_t, 256> h{};
    for (int64_t i = 0; i < plane(im); ++i) ++h[p[i]];
    std::array<uint8_t, 256> lut;
    for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(v);
    int64_t levels = 0, last = 0;
    for (int64_t n : h)
      if (n) ++levels, last = n;
    const int64_t step = (plane(im) - last) / 255;
    if (levels <= 1 || step == 0) return lut;
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      lut[size_t(v)] = uint8_t(std::min<int64_t>(255, n / step));
      n += h[size_t(v)];
    }
    return lut;
  });
}

void invert(Image8 im) { apply_lut_all(im, [](int v) { return 255 - v; }); }

void posterize(Image8 im, int bits) {
  if (bits >= 8) return;
  const int mask = ~((1 << (8 - std::max(bits, 0))) - 1) & 0xff;
  apply_lut_all(im, [mask](int v) { return v & mask; });
}

void solarize(Image8 im, int threshold) {
  apply_lut_all(im, [threshold](int v) { return v < threshold ? v : 255 - v; });
}

void solarize_add(Image8 im, int add, int threshold) {
  apply_lut_all(im, [=](int v) { return v < threshold ? std::min(255, v + add) : v; });
}

void brightness(Image8 im, float factor) {
  apply_lut_all(im, [factor](int v) { return blend(0, uint8_t(v), factor); });
}

void contrast(Image8 im, float factor) {
  const auto l = luma_plane(im);
  double sum = 0;
  for (uint8_t v : l) sum += v;
  const auto grey = uint8_t(int(sum / double(l.size()) + 0.5));  // ImageStat's mean
  apply_lut_all(im, [=](int v) { return blend(grey, uint8_t(v), factor); });
}

void color(Image8 im, float factor) {
  const auto l = luma_plane(im);
  for (int64_t c = 0; c < im.C; ++c) {
    uint8_t* p = im.px + c * plane(im);
    for (int64_t i = 0; i < plane(im); ++i) p[i] = blend(l[size_t(i)], p[i], factor);
  }
}

void sharpness(Image8 im, float factor) {
  const int64_t H = im.H, W = im.W;
  if (H < 3 || W < 3) return;  // the filter keeps a one-pixel border: nothing inside
  const float k = 1.0f / 13.0f, centre = 5.0f / 13.0f;
  std::vector<uint8_t> row(size_t(W * H));
  for (int64_t c = 0; c < im.C; ++c) {
    uint8_t* p = im.px + c * plane(im);
    std::copy(p, p + plane(im), row.begin());  // the input plane
    for (int64_t y = 1; y < H - 1; ++y)
      for (int64_t x = 1; x < W - 1; ++x) {
        const uint8_t* r0 = row.data() + (y - 1) * W + x;
        const uint8_t* r1 = r0 + W;
        const uint8_t* r2 = r1 + W;
        float ss = 0.5f;  // Filter.c: + 0.5, then truncated
        ss += float(r2[-1]) * k + float(r2[0]) * k + float(r2[1]) * k;
        ss += float(r1[-1]) * k + float(r1[0]) * centre + float(r1[1]) * k;
        ss += float(r0[-1]) * k + float(r0[0]) * k + float(r0[1]) * k;
        const auto smooth = uint8_t(std::clamp(ss, 0.0f, 255.0f));
        p[y * W + x] = blend(smooth, r1[0], factor);
      }
  }
}

void affine(Image8 im, const std::array<double, 6>& a, const std::array<uint8_t, 3>& fill) {
  const int64_t H = im.H, W = im.W, n = plane(im);
  std::vector<uint8_t> in(im.px, im.px + im.C * n);
  auto xclip = [W](int64_t x) { return std::clamp<int64_t>(x, 0, W - 1); };
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      // Each point computed as Geometry.c's affine_transform does (not
      // stepped along the row: round-off would move points across the border).
      const double xin = a[0] * (double(x) + 0.5) + a[1] * (double(y) + 0.5) + a[2];
      const double yin = a[3] * (double(x) + 0.5) + a[4] * (double(y) + 0.5) + a[5];
      uint8_t* out = im.px + y * W + x;
      if (xin < 0.0 || xin >= double(W) || yin < 0.0 || yin >= double(H)) {
        for (int64_t c = 0; c < im.C; ++c) out[c * n] = fill[size_t(std::min<int64_t>(c, 2))];
        continue;
      }
      const double xs_ = xin - 0.5, ys_ = yin - 0.5;
      const auto x0 = int64_t(std::floor(xs_)) - 1, y0 = int64_t(std::floor(ys_)) - 1;
      const double dx = xs_ - double(x0 + 1), dy = ys_ - double(y0 + 1);
      const int64_t xs[4] = {xclip(x0), xclip(x0 + 1), xclip(x0 + 2), xclip(x0 + 3)};
      // Rows: the first clipped, each later one outside the image repeats the one before.
      int64_t ys[4];
      ys[0] = std::clamp<int64_t>(y0, 0, H - 1);
      for (int k = 1; k < 4; ++k) ys[k] = (y0 + k >= 0 && y0 + k < H) ? y0 + k : ys[k - 1];
      for (int64_t c = 0; c < im.C; ++c) {
        const uint8_t* src = in.data() + c * n;
        double v[4];
        for (int k = 0; k < 4; ++k) {
          const uint8_t* r = src + ys[k] * W;
          v[k] = cubic(r[xs[0]], r[xs[1]], r[xs[2]], r[xs[3]], dx);
        }
        const double o = cubic(v[0], v[1], v[2], v[3], dy);
        out[c * n] = o <= 0.0 ? 0 : o >= 255.0 ? 255 : uint8_t(o);
      }
    }
  }
}

void rotate(Image8 im, double degrees, const std::array<uint8_t, 3>& fill) {
  const double ang = -degrees * M_PI / 180.0, cx = double(im.W) / 2.0, cy = double(im.H) / 2.0;
  // Image.rotate rounds the matrix to 15 decimals (so 90 degrees lands on the grid).
  auto r15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  const double a = r15(std::cos(ang)), b = r15(std::sin(ang)), d = r15(-std::sin(ang)), e = r15(std::cos(ang));
  affine(im, {a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy}, fill);
}

}  // namespace ldae::pil
