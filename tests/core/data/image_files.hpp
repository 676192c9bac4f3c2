// Test images written with libjpeg, shared by the data and decode tests.
#pragma once
#include <jpeglib.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ldae::test_images {

// A W x H JPEG from `px` (H rows of W pixels of K samples, in colour space
// `in`), stored as `file` (JCS_YCbCr, JCS_CMYK, JCS_YCCK, ...); adobe_marker
// -1 keeps what jpeg_set_colorspace chose (TRUE for CMYK and YCCK), 0 / 1
// forces it.
inline void write_jpeg_pixels(const std::string& path, int W, int H, int K, const std::vector<uint8_t>& px,
                              J_COLOR_SPACE in, J_COLOR_SPACE file, int adobe_marker, int quality) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  FILE* f = std::fopen(path.c_str(), "wb");
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(W), c.image_height = JDIMENSION(H), c.input_components = K;
  c.in_color_space = in;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, file);
  if (adobe_marker >= 0) c.write_Adobe_marker = boolean(adobe_marker);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(px.data()) + size_t(c.next_scanline) * W * K;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

}  // namespace ldae::test_images
