// ImageNet-style class-per-folder trees: decoding (libjpeg-turbo, libpng),
// resizing, centre crop, prepared once into the chunked store
// (core/data/prepared_store.hpp); caches of earlier versions (one HDF5
// file) are still read.
#include <fmt/core.h>
#include "core/base/plural.hpp"
#include "core/base/stop.hpp"
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <cmath>
#include <cstring>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/config/config.hpp"
#include "core/base/atomic_file.hpp"
#include "core/data/data.hpp"
#include "core/data/center_crop_arr.hpp"
#include "core/base/errors.hpp"
#include "core/data/prepared_store.hpp"
#include "core/data/source_files.hpp"
#include "core/records/h5.hpp"

namespace ldae {
namespace fs = std::filesystem;

namespace {

// Pillow's refusal threshold (Image.MAX_IMAGE_PIXELS x 2, its
// DecompressionBombError): a header declaring more pixels is corrupt or
// hostile, and decoding it would allocate 3 bytes a pixel before failing.
constexpr uint64_t kMaxImagePixels = 178956970;

InputError too_many_pixels(const std::string& path, uint64_t w, uint64_t h) {
  return InputError(fmt::format("{}: its header declares {} x {} pixels ({:.0f} Mpx), above the {:.0f} Mpx an "
                                "image may have (Pillow's limit): a corrupt or hostile file. Remove it or set "
                                "data.skip_bad = true to skip and count bad images",
                                path, w, h, double(w) * double(h) / 1e6, double(kMaxImagePixels) / 1e6));
}

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// One RGB channel from an ink channel and black. Photoshop writes CMYK JPEGs
// inverted, 255 = no ink (libjpeg.txt, "Special color spaces"), and marks them
// with an Adobe APP14 marker: then R = C K / 255, as libjpeg-turbo's cmyk.h
// cmyk_to_rgb (TurboJPEG's CMYK -> RGB). Without the marker the samples are
// plain ink amounts: R = (255 - C)(255 - K) / 255, as Pillow's Convert.c
// cmyk2rgb. Deviation: Pillow (JpegImagePlugin, "assume adobe conventions")
// and OpenCV read every CMYK JPEG as inverted; we read the marker, which
// Adobe's writers emit, so we agree with them on Photoshop's files and differ
// only on marker-less ones. Rounded to nearest.
uint8_t cmyk_to_rgb(int ink, int black, bool adobe_inverted) {
  const int a = adobe_inverted ? ink : 255 - ink, b = adobe_inverted ? black : 255 - black;
  return uint8_t((a * b + 127) / 255);
}

ImageSet decode_jpeg(const std::string& path, FILE* fp, int min_side) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.output_message = [](j_common_ptr) {};  // warnings stay quiet
  // A file cut short decodes with its missing rows grey, with only a warning
  // (JWRN_JPEG_EOF): refused, as Pillow refuses it ("image file is
  // truncated"). Other warnings (extraneous bytes before a marker, which some
  // ImageNet files have) decode the whole image and stay quiet.
  err.mgr.emit_message = [](j_common_ptr c, int level) {
    if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(c);
  };
  ImageSet s;
  std::vector<uint8_t> hwk;  // (H, W, K) decoded samples; before setjmp (no destructor skipped)
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw InputError(fmt::format("{}: unreadable JPEG ({}); remove the file or set "
                                 "data.skip_bad = true to skip and count bad images",
                                 path, err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, fp);
  jpeg_read_header(&cinfo, TRUE);
  if (uint64_t(cinfo.image_width) * cinfo.image_height > kMaxImagePixels) {  // before any allocation
    const auto w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    throw too_many_pixels(path, w, h);
  }
  // Grey, YCbCr and RGB files libjpeg-turbo converts to RGB itself; CMYK and
  // YCCK -> RGB it refuses ("Unsupported color conversion request"), so those
  // come out as CMYK (YCCK -> CMYK it does) and are converted below.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool inverted = cinfo.saw_Adobe_marker;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (min_side > 0)  // the IDCT at m/8: the smallest m that keeps the shorter side >= min_side
    for (unsigned m = 1; m <= 8; ++m) {
      cinfo.scale_num = m, cinfo.scale_denom = 8;
      jpeg_calc_output_dimensions(&cinfo);
      if (std::min(cinfo.output_width, cinfo.output_height) >= unsigned(min_side)) break;
    }
  jpeg_start_decompress(&cinfo);
  const int W = int(cinfo.output_width), H = int(cinfo.output_height);
  const int K = cinfo.output_components;  // 3 (RGB) or 4 (CMYK)
  hwk.resize(size_t(W) * H * K);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = hwk.data() + size_t(cinfo.output_scanline) * W * K;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  s.n = 1, s.c = 3, s.h = H, s.w = W;
  s.pixels.resize(size_t(3) * H * W);  // (3, H, W)
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const uint8_t* px = &hwk[(size_t(y) * W + x) * K];
      for (int c = 0; c < 3; ++c)
        s.pixels[(size_t(c) * H + y) * W + x] = cmyk ? cmyk_to_rgb(px[c], px[3], inverted) : px[c];
    }
  return s;
}

// (H, W, 3) interleaved 8-bit RGB -> a (3, H, W) image.
ImageSet interleaved_to_planar(const std::vector<uint8_t>& rgb, int H, int W) {
  ImageSet s;
  s.n = 1, s.c = 3, s.h = H, s.w = W;
  s.pixels.resize(rgb.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) s.pixels[(size_t(c) * H + y) * W + x] = rgb[(size_t(y) * W + x) * 3 + c];
  return s;
}

// (H, W) big-endian 16-bit grey (PNG's order) -> a (3, H, W) image, each
// sample min(v, 255) in every channel (Pillow's I;16 -> RGB, Convert.c I16_RGB).
ImageSet grey16_to_rgb(const std::vector<uint8_t>& be16, int H, int W) {
  ImageSet s;
  s.n = 1, s.c = 3, s.h = H, s.w = W;
  s.pixels.resize(size_t(3) * H * W);
  const size_t plane = size_t(H) * W;
  for (size_t i = 0; i < plane; ++i) {
    const uint8_t v = be16[2 * i] != 0 ? 255 : be16[2 * i + 1];
    s.pixels[i] = s.pixels[plane + i] = s.pixels[2 * plane + i] = v;
  }
  return s;
}

ImageSet decode_png(const std::string& path, FILE* fp) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) throw std::runtime_error("libpng: out of memory");
  char message[200] = "not 3 channels after conversion";  // libpng's reason, for the error
  png_set_error_fn(png, message,
                   [](png_structp p, png_const_charp m) {
                     std::snprintf(static_cast<char*>(png_get_error_ptr(p)), 200, "%s", m);
                     png_longjmp(p, 1);
                   },
                   [](png_structp, png_const_charp) {});
  std::vector<uint8_t> rgb;
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw InputError(fmt::format("{}: unreadable PNG ({}); remove the file or set "
                                 "data.skip_bad = true to skip and count bad images",
                                 path, message));
  }
  png_init_io(png, fp);
  png_read_info(png, info);
  if (uint64_t(png_get_image_width(png, info)) * png_get_image_height(png, info) > kMaxImagePixels) {
    const auto w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    png_destroy_read_struct(&png, &info, nullptr);
    throw too_many_pixels(path, w, h);
  }
  // Normalise every PNG flavour to 8-bit RGB (libpng applies these in its own
  // fixed order): 16-bit colour and grey + alpha samples keep their high
  // byte; palettes expand to RGB, which also turns tRNS into alpha
  // (png_set_palette_to_rgb sets PNG_EXPAND_tRNS); grey 1/2/4 bits scale to
  // 0..255 and grey becomes RGB; alpha, from a channel or tRNS, is then
  // dropped, as Pillow's convert("RGB") does. 16-bit grey alone is read as
  // it is: Pillow opens it as "I;16", whose conversion saturates
  // (Convert.c I16_RGB: a sample above 255 becomes 255, not its high byte).
  // Adam7-interlaced files need the passes combined.
  const bool grey16 = png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) == 16;
  if (!grey16) {
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int W = int(png_get_image_width(png, info)), H = int(png_get_image_height(png, info));
  const int K = grey16 ? 1 : 3, depth = grey16 ? 16 : 8, row_bytes = W * K * depth / 8;
  if (int(png_get_channels(png, info)) != K || png_get_bit_depth(png, info) != depth) png_longjmp(png, 1);
  rgb.resize(size_t(row_bytes) * H);
  rows.resize(size_t(H));
  for (int y = 0; y < H; ++y) rows[size_t(y)] = rgb.data() + size_t(y) * row_bytes;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return grey16 ? grey16_to_rgb(rgb, H, W) : interleaved_to_planar(rgb, H, W);
}

// Weights of a 1-D antialiased linear (triangle) resampling from n_in to
// n_out samples: the filter widens by the scale factor when shrinking.
struct Taps {
  std::vector<int> first;
  std::vector<std::vector<float>> w;
};
Taps triangle_taps(int n_in, int n_out) {
  Taps t;
  const double scale = double(n_in) / n_out, support = std::max(1.0, scale);
  for (int o = 0; o < n_out; ++o) {
    const double centre = (o + 0.5) * scale - 0.5;
    const int lo = std::max(0, int(std::floor(centre - support)) + 1);
    const int hi = std::min(n_in - 1, int(std::ceil(centre + support)) - 1);
    std::vector<float> w;
    double sum = 0;
    for (int i = lo; i <= hi; ++i) {
      double v = std::max(0.0, 1.0 - std::abs(i - centre) / support);
      w.push_back(float(v));
      sum += v;
    }
    if (sum <= 0) {  // degenerate: nearest sample
      int i = std::clamp(int(std::lround(centre)), 0, n_in - 1);
      t.first.push_back(i);
      t.w.push_back({1.0f});
      continue;
    }
    for (auto& v : w) v = float(v / sum);
    t.first.push_back(lo);
    t.w.push_back(w);
  }
  return t;
}

// One image (C, H, W) -> (C, h, w), separable.
std::vector<uint8_t> resample(const uint8_t* src, int C, int H, int W, int h, int w) {
  const Taps ty = triangle_taps(H, h), tx = triangle_taps(W, w);
  std::vector<float> mid(size_t(C) * H * w);
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < w; ++x) {
        float acc = 0;
        for (size_t k = 0; k < tx.w[size_t(x)].size(); ++k)
          acc += tx.w[size_t(x)][k] * src[(size_t(c) * H + y) * W + size_t(tx.first[size_t(x)]) + k];
        mid[(size_t(c) * H + y) * w + x] = acc;
      }
  std::vector<uint8_t> out(size_t(C) * h * w);
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        float acc = 0;
        for (size_t k = 0; k < ty.w[size_t(y)].size(); ++k)
          acc += ty.w[size_t(y)][k] * mid[(size_t(c) * H + size_t(ty.first[size_t(y)]) + k) * w + x];
        out[(size_t(c) * h + y) * w + x] = uint8_t(std::clamp(std::lround(acc), 0L, 255L));
      }
  return out;
}

// Names a folder scan passes over: hidden entries (".ipynb_checkpoints",
// macOS's "._name.jpg" resource forks) and macOS archives' "__MACOSX".
bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.empty() || name[0] == '.' || name == "__MACOSX";
}

// A file name's extension in lower case (".jpg", ".png", "" for none).
std::string lower_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return e;
}

bool is_png_name(const fs::path& p) { return lower_extension(p) == ".png"; }

bool is_image(const fs::path& p) {
  if (is_hidden(p)) return false;
  const std::string e = lower_extension(p);
  return e == ".jpg" || e == ".jpeg" || is_png_name(p);
}

// An image the folder holds but the reader leaves out: a format it does not
// decode, or a name that is not a file (a broken link); "" for the rest
// (images it reads, text files and the like).
std::string left_out(const fs::directory_entry& e) {
  if (is_hidden(e.path())) return "";
  const std::string ext = lower_extension(e.path());
  std::error_code ec;
  if (is_image(e.path())) return e.is_regular_file(ec) ? "" : "not a readable file (a broken link?)";
  for (const char* other : {".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".avif"})
    if (ext == other) return ext + " (only .jpg, .jpeg and .png are read)";
  return "";
}

// Every image file of root/<class>/ in order (classes as listed, files
// sorted by name), labelled by its class's index. Images it leaves out
// (left_out) are counted in one warning, so a folder that lost them is seen.
std::vector<StoreSource::Item> list_split(const fs::path& root, const std::vector<std::string>& classes) {
  std::vector<StoreSource::Item> items;
  std::map<std::string, std::pair<size_t, std::string>> skipped;  // why -> (count, first path)
  for (size_t k = 0; k < classes.size(); ++k) {
    const fs::path dir = root / classes[k];
    if (!fs::is_directory(dir)) continue;  // a class may be absent from val/
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
      else if (const auto why = left_out(e); !why.empty() && skipped[why].first++ == 0) skipped[why].second = e.path().string();
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) items.push_back({f.string(), int64_t(k)});
  }
  for (const auto& [why, seen] : skipped)
    fmt::print(stderr, "image_folder {}: warning: {} left out: {} (e.g. {})\n", root.string(),
               count_of(int64_t(seen.first), "file"), why, seen.second);
  return items;
}

// The identity of exactly the files the reader decodes (`items`, as
// list_split gives them: class folders and files followed through symbolic
// links): each one's path relative to root, size and modification time
// (ns) of the file it resolves to, sorted, hashed to 16 hex digits. Only
// stat(2), no reads: seconds for ImageNet's 1.3 M files. For a folder
// without links or nested folders it is the listing the cache keys were
// made of before (those caches stay valid).
std::string listing_signature(const fs::path& root, const std::vector<const std::vector<StoreSource::Item>*>& splits) {
  std::vector<std::string> lines;
  for (const auto* items : splits)
    for (const auto& it : *items) {
      const fs::path p(it.path);
      lines.push_back(fmt::format("{}|{}|{}", p.lexically_relative(root).string(), fs::file_size(p),
                                  fs::last_write_time(p).time_since_epoch().count()));
    }
  std::sort(lines.begin(), lines.end());
  std::string listing;
  for (const auto& l : lines) listing += l + "\n";
  return fnv1a_hex(listing);
}

// Two class names that are one folder (a symbolic link to another class):
// the same images under two labels. InputError naming both.
void refuse_aliased_classes(const fs::path& train, const std::vector<std::string>& classes) {
  std::map<std::string, std::string> seen;  // canonical path -> class
  for (const auto& k : classes) {
    std::error_code ec;
    const std::string real = fs::canonical(train / k, ec).string();
    if (ec) throw InputError(fmt::format("{}: class folder {} cannot be resolved ({}): a broken symbolic link?",
                                         train.string(), k, ec.message()));
    auto [it, fresh] = seen.emplace(real, k);
    if (!fresh)
      throw InputError(fmt::format("{}: class folders {} and {} are the same folder ({}), so its images would "
                                   "carry two labels; remove the link", train.string(), it->second, k, real));
  }
}

// Every train/ class folder holds images (an empty one would be a label no
// image has, shifting nothing but the probe's head, silently); the classes
// with their counts are printed, so a folder that became a class is seen.
void check_class_counts(const std::string& path, const std::vector<std::string>& classes,
                        const std::vector<StoreSource::Item>& train, size_t test_images) {
  // One class: every probe reads 100% whatever the features hold.
  if (classes.size() < 2)
    throw InputError(fmt::format("{}/train: {} class folder{} ({}); the probes classify, so they need at least "
                                 "2 classes (one folder per class under train/ and val/)",
                                 path, classes.size(), classes.size() == 1 ? "" : "s",
                                 classes.empty() ? "none" : classes.front()));
  std::vector<int64_t> count(classes.size(), 0);
  for (const auto& it : train) ++count[size_t(it.label)];
  std::string empty;
  for (size_t k = 0; k < classes.size(); ++k)
    if (count[k] == 0) empty += (empty.empty() ? "" : ", ") + classes[k];
  if (!empty.empty())
    throw InputError(fmt::format("{}/train: class folder(s) {} hold no .jpg/.jpeg/.png image, so their labels "
                                 "would have no training image; add images or remove the folder(s)",
                                 path, empty));
  const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
  std::string shown;
  for (size_t k = 0; k < classes.size() && k < 4; ++k) shown += fmt::format("{}{} ({})", k ? ", " : "", classes[k], count[k]);
  fmt::print(stderr, "image_folder {}: {} classes, {} train and {} test images ({} to {} per class): {}{}\n", path,
             classes.size(), train.size(), test_images, *lo, *hi, shown, classes.size() > 4 ? ", ..." : "");
}

// val/ must hold class folders named as train/'s: a folder train/ lacks
// would have its images dropped without a word (a misspelt or extra class),
// and images lying directly in val/ have no class at all (ImageNet's
// validation archive unpacks flat, its labels in a separate file).
void check_test_classes(const fs::path& dir, const std::vector<std::string>& classes) {
  int loose = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !is_hidden(e.path()) && !std::binary_search(classes.begin(), classes.end(), name)) {
      std::string known;
      for (size_t k = 0; k < classes.size() && k < 5; ++k) known += (k ? ", " : "") + classes[k];
      if (classes.size() > 5) known += fmt::format(", ... ({} in all)", classes.size());
      throw InputError(fmt::format("{}: class folder '{}' is not among train/'s classes ({}); "
                                   "its images would have no label. Rename it to its train/ "
                                   "class or move it out of {}",
                                   e.path().string(), name, known, dir.string()));
    }
    if (e.is_regular_file() && is_image(e.path())) ++loose;
  }
  if (loose > 0)
    throw InputError(fmt::format("{}: {} images lie directly in it, outside class folders, so "
                                 "they have no label; sort them into {}/<class>/ as in train/ "
                                 "(ImageNet's flat validation set: by its ground-truth file)",
                                 dir.string(), loose, dir.string()));
}

ImageSet load_set(const H5File& f, const std::string& name) {
  ImageSet s;
  std::vector<uint64_t> shape;
  s.pixels = f.read_u8(name + "/images", &shape);
  s.n = int(shape.at(0)), s.c = int(shape.at(1)), s.h = int(shape.at(2)), s.w = int(shape.at(3));
  s.labels = f.read_i64(name + "/labels");
  return s;
}

// The splits of a legacy image_folder-<key>.h5 cache, labels checked
// against its classes. InputError for a damaged or stale one.
Dataset load_legacy_cache(const std::string& cache, const std::string& folder, Dataset d) {
  H5File f(cache, H5File::Read);
  d.train = load_set(f, "train");
  d.test = load_set(f, "test");
  // Labels index train/'s class folders as they were when the cache was
  // built (caches written before the attribute: as they are now).
  if (f.has_attr("classes")) d.classes = int(f.attr_i64("classes"));
  for (const ImageSet* set : {&d.train, &d.test})
    for (size_t i = 0; i < set->labels.size(); ++i)
      if (set->labels[i] < 0 || set->labels[i] >= d.classes)
        throw InputError(fmt::format(
            "cached {} label {} at index {} is outside 0..{} ({} classes of {}): stale or damaged",
            set == &d.train ? "train" : "test", set->labels[i], i, d.classes - 1, d.classes, folder));
  return d;
}

}  // namespace

ImageSet decode_image(const std::string& path, int min_side) {
  std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!fp)
    throw InputError(fmt::format("{}: cannot open image ({}); make it readable, remove it, or set data.skip_bad = "
                                 "true to skip and count bad images",
                                 path, std::strerror(errno)));
  uint8_t magic[8] = {0};
  const size_t got = std::fread(magic, 1, 8, fp.get());
  std::rewind(fp.get());
  if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) return decode_jpeg(path, fp.get(), min_side);
  if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) return decode_png(path, fp.get());
  throw InputError(fmt::format("{}: neither a JPEG nor a PNG (by its first bytes); remove the "
                               "file or set data.skip_bad = true",
                               path));
}

std::string store_key_tags(const DataConfig& c, const StoreSource& src) {
  std::string tags;
  if (c.jpeg_draft) tags += "|jpeg_draft";  // other pixels
  if (c.whole_images) tags += "|whole";      // another layout
  if (c.resize != "bilinear") tags += "|" + c.resize;  // other pixels
  bool jpeg = false, png = false;  // the formats listed, by extension (decode_image reads the bytes)
  for (const auto* items : {&src.train, &src.test})
    for (const auto& it : *items) (is_png_name(it.path) ? png : jpeg) = true;
  if (jpeg && kJpegDecodeVersion > 1) tags += fmt::format("|jpeg{}", kJpegDecodeVersion);
  if (png && kPngDecodeVersion > 1) tags += fmt::format("|png{}", kPngDecodeVersion);
  return tags;
}

ResizeRule resize_rule(const std::string& name) {
  if (name == "bilinear") return ResizeRule::kBilinear;
  if (name == "dit") return ResizeRule::kDit;
  throw std::invalid_argument("data.resize = \"" + name + "\": not \"bilinear\" or \"dit\"");
}

ImageSet resize_shorter_side(const ImageSet& im, int side, ResizeRule rule) {
  if (rule == ResizeRule::kDit) return center_crop_arr_resize(im, side);
  const double s = double(side) / std::min(im.h, im.w);
  const int h = std::max(side, int(std::lround(im.h * s))), w = std::max(side, int(std::lround(im.w * s)));
  ImageSet out;
  out.n = 1, out.c = im.c, out.h = h, out.w = w;
  out.pixels = resample(im.pixels.data(), im.c, im.h, im.w, h, w);
  return out;
}

ImageSet resize_whole(const ImageSet& im, int side, ResizeRule rule) {
  ImageSet whole = resize_shorter_side(im, side, rule);
  const int cap = kMaxWholeAspect * side;
  if (whole.h <= cap && whole.w <= cap) return whole;
  // The kept span [c0, c0 + cap) of the longer side: its centre square
  // starts where the uncapped image's does, (len - side) / 2.
  const bool wide = whole.w > cap;
  const int len = wide ? whole.w : whole.h, c0 = (len - side) / 2 - (cap - side) / 2;
  ImageSet out;
  out.n = 1, out.c = whole.c, out.h = wide ? whole.h : cap, out.w = wide ? cap : whole.w;
  out.pixels.resize(size_t(out.c) * out.h * out.w);
  for (int c = 0; c < out.c; ++c)
    for (int y = 0; y < out.h; ++y) {
      const size_t from = (size_t(c) * whole.h + size_t(wide ? y : c0 + y)) * whole.w + size_t(wide ? c0 : 0);
      std::copy_n(whole.pixels.begin() + ptrdiff_t(from), out.w,
                  out.pixels.begin() + ptrdiff_t((size_t(c) * out.h + y) * out.w));
    }
  return out;
}

ImageSet resize_center_crop(const ImageSet& im, int side, ResizeRule rule) {
  const ImageSet whole = resize_shorter_side(im, side, rule);
  const int h = whole.h, w = whole.w;
  const auto& big = whole.pixels;
  ImageSet out;
  out.n = 1, out.c = im.c, out.h = side, out.w = side;
  out.pixels.resize(size_t(im.c) * side * side);
  const int y0 = (h - side) / 2, x0 = (w - side) / 2;
  for (int c = 0; c < im.c; ++c)
    for (int y = 0; y < side; ++y)
      std::copy_n(big.begin() + ptrdiff_t((size_t(c) * h + y0 + y) * w + x0), side,
                  out.pixels.begin() + ptrdiff_t((size_t(c) * side + y) * side));
  return out;
}

ImageSet resize_images(const ImageSet& in, int side) {
  if (in.h == side && in.w == side) return in;
  ImageSet out = in;
  out.h = side, out.w = side;
  out.pixels.assign(size_t(in.n) * in.c * side * side, 0);
  const size_t src = size_t(in.c) * in.h * in.w, dst = size_t(in.c) * side * side;
  for (int i = 0; i < in.n; ++i) {
    auto r = resample(in.pixels.data() + i * src, in.c, in.h, in.w, side, side);
    std::copy(r.begin(), r.end(), out.pixels.begin() + ptrdiff_t(i * dst));
  }
  return out;
}

Dataset load_image_folder(const DataConfig& c, const LoadContext& ctx) {
  const fs::path root(c.path);
  if (c.path.empty())
    throw InputError("data.path is empty: give the folder holding train/<class>/*.jpg and val/<class>/*.jpg");
  if (!fs::is_directory(root / "train"))
    throw InputError(fmt::format("data.path = \"{}\": no train/ folder; image_folder expects "
                                 "train/<class>/*.jpg and val/<class>/*.jpg",
                                 c.path));
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root / "train"))
    if (e.is_directory() && !is_hidden(e.path())) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw InputError(c.path + "/train: no class folders");
  const std::string test_dir = fs::is_directory(root / "val") ? "val" : "test";
  if (!fs::is_directory(root / test_dir))
    throw InputError(c.path + ": no val/ (or test/) folder for the probe's test split");
  refuse_aliased_classes(root / "train", classes);
  // The files the reader decodes, listed once: the cache key is made of them.
  StoreSource src;
  src.train = list_split(root / "train", classes);
  src.test = list_split(root / test_dir, classes);
  // Cache key: absolute path, resolution, the skip policy and the listing of
  // those files (name, size and modification time, through links), so images
  // added, removed or replaced under the same path make a new cache.
  // Then the tags of what else makes other pixels (store_key_tags).
  const std::string key = fmt::format("{}|{}|{}|{}", fs::absolute(root).string(), c.resolution, c.skip_bad,
                                      listing_signature(root, {&src.train, &src.test})) +
                          store_key_tags(c, src);
  const std::string cache = fmt::format("{}/image_folder-{}.h5", ctx.cache_dir, fnv1a_hex(key));
  Dataset d;
  d.name = "image_folder";
  d.classes = int(classes.size());
  if (fs::exists(cache)) {
    // A cache written before the prepared store (this version writes none).
    // One that fails its read or checks is not used: the folder is prepared
    // into the store instead, as if it were absent.
    try {
      return load_legacy_cache(cache, c.path, d);
    } catch (const InputError& e) {
      fmt::print(stderr, "image_folder {}: cache {} not used ({}): the folder is prepared again\n", c.path, cache,
                 reason_about(first_sentence(e.what(), 400), cache));
    }
  }
  check_test_classes(root / test_dir, classes);
  // Decoded once into the prepared-data store, in parallel and resumable.
  check_class_counts(c.path, classes, src.train, src.test.size());
  src.classes = d.classes;
  src.description = fs::absolute(root).string();
  const int side = c.resolution;
  const std::string dir = fmt::format("{}/prepared/image_folder-{}", ctx.cache_dir, fnv1a_hex(key));
  const int draft = c.jpeg_draft ? side : 0;
  const bool whole = c.whole_images;
  const ResizeRule rule = resize_rule(c.resize);
  const StoreManifest m = prepare_store(src, dir, side, c.skip_bad,
                                        [side, draft, whole, rule](const std::string& path) {
                                          return whole ? resize_whole(decode_image(path, draft), side, rule)
                                                       : resize_center_crop(decode_image(path, draft), side, rule);
                                        },
                                        ctx.threads, 0, whole);
  // Streamed: labels now, pixels per batch; load_dataset reads the splits
  // into memory when they fit data.resident_max_gb.
  d.train = open_store_split(dir, m, "train");
  d.test = open_store_split(dir, m, "test");
  if (c.crops_from == "files")  // crops decoded from the files (only training images are cropped)
    d.train.files = std::make_shared<const SourceFiles>(store_source_files(src.train, m, dir, "train"));
  if (d.train.files && d.train.files->size() != d.train.n)
    throw std::logic_error(fmt::format("{}: {} files for {} prepared images", dir, d.train.files->size(), d.train.n));
  if (d.train.n == 0) throw InputError(c.path + "/train: no readable .jpg/.jpeg/.png images");
  if (d.test.n == 0)
    throw InputError(fmt::format("{}/{}: no readable .jpg/.jpeg/.png images in its class "
                                 "folders; the probe needs a test split",
                                 c.path, test_dir));
  if (m.skipped > 0) fmt::print(stderr, "image_folder {}: skipped {} unreadable images\n", c.path, m.skipped);
  return d;
}

}  // namespace ldae
