// The elementwise CUDA kernels' sharing of (rows, W) elements among threads
// (core/nn/kernels/row_tiling.hpp), run here on the host over every block
// and thread a launch would have: each element visited exactly once, also
// when the grid is capped and the threads stride over further rows.
#include <gtest/gtest.h>

#include <vector>

#include "core/nn/kernels/row_tiling.hpp"

namespace ldae::cuda_kernels {
namespace {

// Visit counts of every element of `rows` x `width` for blocks of `block`
// threads, at most `max_blocks` blocks.
std::vector<int> visits(int64_t rows, int64_t width, int block, int64_t max_blocks) {
  const RowTiling tl = row_tiling(width, block);
  const int64_t blocks = row_blocks(tl, rows, max_blocks);
  std::vector<int> seen(size_t(rows * width), 0);
  for (int64_t bi = 0; bi < blocks; ++bi)
    for (int t = 0; t < block; ++t) {
      const RowWalk w = row_walk(tl, bi, blocks, t);
      for (int64_t row = w.first_row; row < rows; row += w.row_stride)
        for (int64_t j = w.lane; j < width; j += w.column_stride) ++seen[size_t(row * width + j)];
    }
  return seen;
}

TEST(RowTiling, GroupsAreAPowerOfTwoBetween32AndTheBlock) {
  EXPECT_EQ(row_tiling(1, 256).threads_per_row, 32);
  EXPECT_EQ(row_tiling(37, 256).threads_per_row, 64);
  EXPECT_EQ(row_tiling(128, 256).threads_per_row, 128);
  EXPECT_EQ(row_tiling(128, 256).rows_per_block, 2);
  EXPECT_EQ(row_tiling(384, 256).threads_per_row, 256);
  EXPECT_EQ(row_tiling(4096, 256).rows_per_block, 1);
}

TEST(RowTiling, EveryElementIsVisitedOnce) {
  struct Case {
    int64_t rows, width, max_blocks;
  };
  // Widths below, at and above a warp and the block; grids capped below the
  // rows they need, so threads stride over further rows.
  for (const Case c : {Case{15, 37, 1 << 20}, Case{7, 1024, 1 << 20}, Case{9, 128, 2}, Case{100, 96, 3},
                       Case{3, 1, 1 << 20}, Case{1, 300, 1}, Case{65, 384, 5}}) {
    const auto seen = visits(c.rows, c.width, 256, c.max_blocks);
    for (size_t i = 0; i < seen.size(); ++i)
      ASSERT_EQ(seen[i], 1) << "rows " << c.rows << " width " << c.width << " max_blocks " << c.max_blocks
                            << ": element " << i;
  }
}

}  // namespace
}  // namespace ldae::cuda_kernels
