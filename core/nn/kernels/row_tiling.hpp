// How the elementwise CUDA kernels over (rows, W) row-major data share the
// elements among a block's threads: a group of threads per row, each
// thread walking its row's columns j = lane, lane + group, ... . The row (and
// the batch index b = row / L, which selects a modulation) is found once per
// row, not by a 64-bit division and remainder per element as a flat index
// needs. Host and device code alike, so a CPU test (tests/core/nn/
// kernels/test_row_tiling.cpp) checks that every element is visited exactly once.
#pragma once
#include <cstdint>

#include "core/nn/kernels/host_device.hpp"

namespace ldae::cuda_kernels {

struct RowTiling {
  int threads_per_row;  // a power of two from 32 up to the block's threads
  int rows_per_block;   // block threads / threads_per_row
};

// For rows of `width` elements and blocks of `block` threads (a power of two,
// at least 32): the smallest power of two >= width, clamped to [32, block].
LDAE_HOST_DEVICE inline RowTiling row_tiling(int64_t width, int block) {
  int t = 32;
  while (t < block && t < width) t *= 2;
  return {t, block / t};
}

// Blocks to launch for `rows` rows, at most `max_blocks` (the kernels stride
// over the rows beyond them).
inline int64_t row_blocks(RowTiling tl, int64_t rows, int64_t max_blocks) {
  const int64_t need = (rows + tl.rows_per_block - 1) / tl.rows_per_block;
  return need < 1 ? 1 : (need < max_blocks ? need : max_blocks);
}

// Thread `thread` of block `block_index` of `blocks`: its first row, the
// stride between its rows, its first column and the stride between columns.
struct RowWalk {
  int64_t first_row, row_stride;
  int lane, column_stride;
};
LDAE_HOST_DEVICE inline RowWalk row_walk(RowTiling tl, int64_t block_index, int64_t blocks, int thread) {
  return {block_index * tl.rows_per_block + thread / tl.threads_per_row, blocks * tl.rows_per_block,
          thread % tl.threads_per_row, tl.threads_per_row};
}

}  // namespace ldae::cuda_kernels
