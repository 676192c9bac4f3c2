// How the elementwise CUDA kernels over (rows, W) row-major data share the
// elements among a block's threads: a group of threads per row, each
// thread walking its row's columns j = lane, lane + group, ... . The row (and
// the batch index b = row / L, which selects a modulation) is found once per
// row, not by a 64-bit division and remainder per element as a flat index
// needs. Host and device code alike: the kernels run for_each_owned, and a
// CPU test (tests/core/nn/kernels/test_row_tiling.cpp) runs the same
// function for every block and thread of a launch and checks that every
// element is visited exactly once.
#pragma once
#include <cstdint>

#include "core/nn/kernels/host_device.hpp"

namespace ldae::cuda_kernels {

struct RowTiling {
  int threads_per_row;  // a power of two from 32 up to the block's threads
  int rows_per_block;   // block threads / threads_per_row
};

// For rows of `width` elements and blocks of `block` threads (a power of two,
// at least 32): a width that is a multiple of 32 takes the largest power of
// two dividing it (up to the block), so every lane works on every pass (384:
// 128 threads, 3 passes); any other width the smallest power of two >= it,
// clamped to [32, block].
LDAE_HOST_DEVICE inline RowTiling row_tiling(int64_t width, int block) {
  int t = 32;
  if (width % 32 == 0 && width > 0) {
    while (t < block && width % (2 * t) == 0) t *= 2;
  } else {
    while (t < block && t < width) t *= 2;
  }
  return {t, block / t};
}

// Blocks to launch for `rows` rows, at most `max_blocks` (the threads stride
// over the rows beyond them); at least 1.
inline int64_t row_blocks(RowTiling tl, int64_t rows, int64_t max_blocks) {
  const int64_t need = (rows + tl.rows_per_block - 1) / tl.rows_per_block;
  return need < 1 ? 1 : (need < max_blocks ? need : max_blocks);
}

// What thread `thread` of block `block_index` of `blocks` owns:
// per_row(row) once for each of its rows, then each(per_row's value, i, j)
// for its elements of that row (i = row * width + j, the flat index).
template <class PerRow, class Each>
LDAE_HOST_DEVICE inline void for_each_owned(RowTiling tl, int64_t block_index, int64_t blocks, int thread,
                                            int64_t rows, int64_t width, PerRow per_row, Each each) {
  const int lane = thread % tl.threads_per_row;
  const int64_t stride = blocks * tl.rows_per_block;
  for (int64_t row = block_index * tl.rows_per_block + thread / tl.threads_per_row; row < rows; row += stride) {
    const auto v = per_row(row);
    for (int64_t j = lane, i = row * width + lane; j < width; j += tl.threads_per_row, i += tl.threads_per_row)
      each(v, i, j);
  }
}

}  // namespace ldae::cuda_kernels
