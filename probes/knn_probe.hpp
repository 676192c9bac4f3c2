// Weighted k-nearest-neighbour classification of frozen features, the
// practice of InstDisc (Wu et al. 2018) and DINO: features L2-normalised,
// cosine similarity to every training feature, the k most similar vote for
// their label with weight exp(similarity / T). No training and no
// hyper-parameter search beyond (k, T), so it complements the linear probe:
// it asks whether neighbours in feature space share a class.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "probes/feature_rows.hpp"

namespace ldae {

struct KnnResult {
  double top1 = 0;   // % of the test split
  double top5 = -1;  // % where classes > 5, else -1
};

// train_x (N, F), train_y (N,) int64, test_x (M, F), test_y (M,), all on one
// device; k <= N. Test rows go in chunks so the (chunk, N) similarity block
// stays near 256 MB on the CPU, 1 GiB on a GPU, whatever N is (ImageNet:
// N = 1.28 M). `bf16` (train.bf16 runs, CUDA tensors only): the similarity
// products in bf16 with fp32 accumulation; the CPU always computes them in fp32.
KnnResult knn_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                    const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t classes,
                    int64_t k, double temperature, bool bf16 = false);
// The same probe on rows that may be made on demand (FeatureRows; both
// held: the tensor form). The test rows go in passes of at most held_test
// rows, held normalised on the rows' device; each pass reads the training
// rows once, a block at a time (128 MB of rows; the (pass, block)
// similarities at most 256 MB),
// keeping each test row's k most similar so far. Memory: a pass's test rows,
// a block of training rows and (pass, 2k) candidates; time: ceil(M /
// held_test) reads of the training rows. Equal to the tensor form up to the
// order of equal similarities. A progress line per pass (ETA).
KnnResult knn_probe(const FeatureRows& train_x, const torch::Tensor& train_y, const FeatureRows& test_x,
                    const torch::Tensor& test_y, int64_t classes, int64_t k, double temperature, bool bf16,
                    int64_t held_test);

}  // namespace ldae
