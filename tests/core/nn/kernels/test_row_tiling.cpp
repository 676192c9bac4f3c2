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
// threads, at most `max_blocks` blocks: for_each_owned run for every block
// and thread, as the kernels run it; each element's flat index and column
// are checked against its row.
std::vector<int> visits(int64_t rows, int64_t width, int block, int64_t max_blocks) {
  const RowTiling tl = row_tiling(width, block);
  const int64_t blocks = row_blocks(tl, rows, max_blocks);
  std::vector<int> seen(size_t(rows * width), 0);
  for (int64_t bi = 0; bi < blocks; ++bi)
    for (int t = 0; t < block; ++t)
      for_each_owned(
          tl, bi, blocks, t, rows, width, [](int64_t row) { return row; },
          [&](int64_t row, int64_t i, int64_t j) {
            EXPECT_EQ(i, row * width + j);
            ++seen[size_t(i)];
          });
  return seen;
}

TEST(RowTiling, EveryLaneWorksOnMultiplesOf32) {
  EXPECT_EQ(row_tiling(1, 256).threads_per_row, 32);
  EXPECT_EQ(row_tiling(37, 256).threads_per_row, 64);  // not a multiple of 32: the next power of two
  EXPECT_EQ(row_tiling(300, 256).threads_per_row, 256);
  EXPECT_EQ(row_tiling(96, 256).threads_per_row, 32);   // 3 passes of 32
  EXPECT_EQ(row_tiling(128, 256).threads_per_row, 128);
  EXPECT_EQ(row_tiling(128, 256).rows_per_block, 2);
  EXPECT_EQ(row_tiling(384, 256).threads_per_row, 128);  // DiT-S: 3 passes of 128
  EXPECT_EQ(row_tiling(1152, 256).threads_per_row, 128);  // DiT-XL
  EXPECT_EQ(row_tiling(1024, 256).threads_per_row, 256);
  EXPECT_EQ(row_tiling(4096, 256).rows_per_block, 1);
  for (int64_t w : {1, 8, 37, 96, 128, 300, 384, 1024, 1152, 1536, 4096}) {
    const RowTiling tl = row_tiling(w, 256);
    EXPECT_EQ(tl.threads_per_row * tl.rows_per_block, 256) << w;
  }
}

TEST(RowTiling, EveryElementIsVisitedOnce) {
  struct Case {
    int64_t rows, width, max_blocks;
  };
  // Widths below, at and above a warp and the block; grids capped below the
  // rows they need, so threads stride over further rows.
  for (const Case c : {Case{15, 37, 1 << 20}, Case{7, 1024, 1 << 20}, Case{9, 128, 2}, Case{100, 96, 3},
                       Case{3, 1, 1 << 20}, Case{1, 300, 1}, Case{65, 384, 5}, Case{0, 128, 4},
                       Case{11, 1152, 2}, Case{5, 8, 1 << 20}}) {
    const auto seen = visits(c.rows, c.width, 256, c.max_blocks);
    for (size_t i = 0; i < seen.size(); ++i)
      ASSERT_EQ(seen[i], 1) << "rows " << c.rows << " width " << c.width << " max_blocks " << c.max_blocks
                            << ": element " << i;
  }
}

}  // namespace
}  // namespace ldae::cuda_kernels
