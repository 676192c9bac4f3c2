#include "core/data/image_source.hpp"

#include <ATen/Parallel.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <stdexcept>
#include <thread>

#include "core/base/errors.hpp"
#include "core/base/seeds.hpp"
#include "core/data/augment.hpp"
#include "core/data/prepared_store.hpp"
#include "core/data/source_files.hpp"
#include "core/data/whole_crop.hpp"

namespace ldae {

namespace {
int64_t image_bytes(const ImageSet& s) { return int64_t(s.c) * s.h * s.w; }

// Row of the store that holds image i of a streamed set.
int64_t store_row(const ImageSet& s, int64_t i) { return s.rows.empty() ? i : s.rows[size_t(i)]; }

// Store row i's original file, decoded whole (data.crops_from = "files");
// InputError naming it when it no longer decodes as it did. The decoder's
// own advice (remove it, data.skip_bad) is not passed on: either would make
// another store, and skip_bad skips nothing at crop time.
ImageSet decoded_source(const ImageSet& s, int64_t i) {
  const std::string path = s.files->path(i);
  std::string why;
  try {
    ImageSet im = decode_image(path);
    if (im.c == s.c) return im;
    why = fmt::format("decodes to {} channels, not {}", im.c, s.c);
  } catch (const InputError& e) {
    why = reason_about(e.what(), path);
    why = why.substr(0, why.find("; "));
  }
  throw InputError(fmt::format("{}: {}. data.crops_from = \"files\" decodes each crop from its file, which decoded "
                               "when the store was prepared: make it readable, or restore it as it was (the same "
                               "size and modification time); the store and the run ids stay as they are", path, why));
}

void check_index(const ImageSet& s, int64_t i) {
  if (i < 0 || i >= s.n) throw std::out_of_range(fmt::format("image {} of a split of {}", i, s.n));
}

// Runs body(r) for r in [0, B) on up to `threads` threads (0: LibTorch's
// intra-op count), never more than B; rethrows the first error.
template <class F>
void over_images(int64_t B, int threads, const F& body) {
  const int64_t want = threads > 0 ? threads : at::get_num_threads();
  const int n_threads = int(std::clamp<int64_t>(want, 1, std::max<int64_t>(B, 1)));
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int64_t r = t; r < B; r += n_threads) body(r);
      } catch (...) {
        errors[size_t(t)] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

torch::Tensor read_images(const ImageSet& s, const torch::Tensor& idx, int threads) {
  auto ix = idx.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t B = ix.numel(), per = image_bytes(s);
  const int64_t* p = ix.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) check_index(s, p[r]);
  auto out = torch::empty({B, s.c, s.h, s.w}, torch::kUInt8);
  uint8_t* dst = out.data_ptr<uint8_t>();
  if (!s.streamed()) {
    for (int64_t r = 0; r < B; ++r) std::memcpy(dst + r * per, s.pixels.data() + p[r] * per, size_t(per));
    return out;
  }
  // Reads from the page cache or the disk: a thread per core the run may use
  // (--threads, train.threads: LibTorch's intra-op setting) keeps the disk's
  // queue full (the chunk files are read concurrently, pread needs no lock).
  over_images(B, threads, [&](int64_t r) {
    s.store->read(store_row(s, p[r]), dst + r * per, nullptr);
  });
  return out;
}

std::vector<WholeImage> read_whole_rows(const ImageSet& s, int64_t lo, int64_t hi, int threads) {
  if (!s.whole) throw std::logic_error("read_whole_rows: the set keeps no whole images");
  if (lo < hi) check_index(s, lo), check_index(s, hi - 1);
  std::vector<WholeImage> out(size_t(std::max<int64_t>(0, hi - lo)));
  over_images(int64_t(out.size()), threads, [&](int64_t r) {
    WholeImage& im = out[size_t(r)];
    s.store->read_whole(store_row(s, lo + r), &im.pixels, &im.h, &im.w);
  });
  return out;
}

torch::Tensor read_crops(const ImageSet& s, const torch::Tensor& idx, double scale_lo, double scale_hi,
                         int64_t out_side, uint64_t seed, int64_t first, int threads, DecodedRows* reuse) {
  if (!s.whole) throw std::logic_error("read_crops: the set keeps no whole images");
  auto ix = idx.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t B = ix.numel(), S = out_side > 0 ? out_side : s.h, per = int64_t(s.c) * S * S;
  const int64_t* p = ix.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) check_index(s, p[r]);
  auto out = torch::empty({B, s.c, S, S}, torch::kUInt8);
  uint8_t* dst = out.data_ptr<uint8_t>();
  // Files: decoded whole and held only while cropped, or kept in `reuse`
  // for the next call with these idx (each thread fills its own slots).
  const bool reused = s.files && reuse && reuse->idx.defined() && torch::equal(reuse->idx, ix);
  std::vector<ImageSet> kept(s.files && reuse && !reused ? size_t(B) : 0);
  over_images(B, threads, [&](int64_t r) {
    CropDraws draws(step_seed(seed, uint64_t(first + r)));
    if (s.files) {
      ImageSet decoded;
      const ImageSet& file = reused ? reuse->images[size_t(r)] : (decoded = decoded_source(s, store_row(s, p[r])));
      const CropBox box = draw_crop_box(file.h, file.w, scale_lo, scale_hi, draws);
      pil_bicubic_resized_crop(file.pixels.data(), s.c, file.h, file.w, box, int(S), int(S), dst + r * per);
      if (!kept.empty()) kept[size_t(r)] = std::move(decoded);
      return;
    }
    thread_local std::vector<uint8_t> img;
    int h = 0, w = 0;
    s.store->read_whole(store_row(s, p[r]), &img, &h, &w);
    const CropBox box = draw_crop_box(h, w, scale_lo, scale_hi, draws);
    pil_bicubic_resized_crop(img.data(), s.c, h, w, box, int(S), int(S), dst + r * per);
  });
  if (!kept.empty()) reuse->idx = ix.clone(), reuse->images = std::move(kept);
  return out;
}

torch::Tensor read_image_rows(const ImageSet& s, int64_t lo, int64_t hi, int threads) {
  return read_images(s, torch::arange(lo, hi, torch::kLong), threads);
}

torch::Tensor images_to_float(const torch::Tensor& u8, bool normalize) {
  // In place after the conversion: one float copy of the batch, not three
  // (a streamed pass of 5,000 images at 256 px is 3.9 GB each); the same
  // roundings as x / 255 then x * 2 - 1.
  auto t = u8.to(torch::kFloat32);
  t.div_(255.0);
  return normalize ? t.mul_(2.0).sub_(1.0) : t;
}

torch::Tensor crop_images(const ImageBatches& b, const torch::Tensor& idx, double scale_lo, double scale_hi,
                          int64_t out_side, torch::Device device, std::optional<at::Generator> gen) {
  if (b.crop) return b.crop(idx, scale_lo, scale_hi, out_side, device, std::move(gen));
  return random_resized_crop_flip(b.read(idx).to(device), scale_lo, scale_hi, out_side, std::move(gen));
}

ImageBatches image_batches(const ImageSet& s, bool normalize) {
  ImageBatches b;
  b.n = s.n, b.c = s.c, b.h = s.h, b.w = s.w, b.whole = s.whole;
  b.read = [&s, normalize](const torch::Tensor& idx) { return images_to_float(read_images(s, idx), normalize); };
  b.rows = [&s, normalize](int64_t lo, int64_t hi) {
    return images_to_float(read_image_rows(s, lo, hi), normalize);
  };
  if (s.whole) {
    b.crop_with = [&s, normalize](const torch::Tensor& idx, double lo, double hi, int64_t out_side, uint64_t seed,
                                  int threads, DecodedRows* reuse) {
      return images_to_float(read_crops(s, idx, lo, hi, out_side, seed, 0, threads, reuse), normalize);
    };
    b.crop = [with = b.crop_with](const torch::Tensor& idx, double lo, double hi, int64_t out_side,
                                  torch::Device device, std::optional<at::Generator> gen) {
      // One draw of the caller's stream seeds the batch's crops, so the
      // trainer's per-step reseed fixes them (a resumed run draws the same).
      return with(idx, lo, hi, out_side, crop_seed(std::move(gen)), 0, nullptr).to(device);
    };
  }
  return b;
}

uint64_t crop_seed(std::optional<at::Generator> gen) {
  return uint64_t(torch::randint(int64_t(1) << 62, {1}, gen, torch::kLong).item<int64_t>());
}

void for_each_crop_chunk(const ImageBatches& b, const torch::Tensor& idx, int64_t rows, double scale_lo,
                         double scale_hi, torch::Device device, const std::function<void(const torch::Tensor&)>& use,
                         bool ahead) {
  const int64_t n = idx.size(0);
  if (!b.crop_with || !ahead) {
    for (int64_t j = 0; j < n; j += rows) use(crop_images(b, idx.slice(0, j, j + rows), scale_lo, scale_hi, 0, device));
    return;
  }
  std::vector<uint64_t> seeds;
  for (int64_t j = 0; j < n; j += rows) seeds.push_back(crop_seed(std::nullopt));
  const int threads = at::get_num_threads();  // the caller's, passed on explicitly
  auto cut = [&](size_t k) {
    return std::async(std::launch::async, [&b, &idx, &seeds, k, rows, scale_lo, scale_hi, threads] {
      return b.crop_with(idx.slice(0, int64_t(k) * rows, int64_t(k + 1) * rows), scale_lo, scale_hi, 0, seeds[k],
                         threads, nullptr);
    });
  };
  // Declared after what it reads: a pending cut is waited for before they go.
  std::future<torch::Tensor> next = cut(0);
  for (size_t k = 0; k < seeds.size(); ++k) {
    const torch::Tensor crops = next.get();
    if (k + 1 < seeds.size()) next = cut(k + 1);
    use(crops.to(device));
  }
}

ImageBatches image_batches(const torch::Tensor& images) {
  ImageBatches b;
  b.n = images.size(0), b.c = int(images.size(1)), b.h = int(images.size(2)), b.w = int(images.size(3));
  b.read = [images](const torch::Tensor& idx) { return images.index_select(0, idx); };
  b.rows = [images](int64_t lo, int64_t hi) { return images.slice(0, lo, hi); };
  return b;
}

double float_bytes(const Dataset& d) {
  return 4.0 * (double(d.train.n) * image_bytes(d.train) + double(d.test.n) * image_bytes(d.test));
}

bool fits_resident(const Dataset& d, const DataConfig& c) {
  return float_bytes(d) <= c.resident_max_gb * double(int64_t(1) << 30);
}

ImageSet make_resident(const ImageSet& s) {
  if (!s.streamed()) return s;
  ImageSet out;
  out.n = s.n, out.c = s.c, out.h = s.h, out.w = s.w;
  out.labels = s.labels;
  auto px = read_image_rows(s, 0, s.n);
  out.pixels.assign(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel());
  return out;
}

}  // namespace ldae
