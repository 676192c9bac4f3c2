// Module weights in HDF5: one float32 dataset per named parameter and buffer,
// under a group prefix, so fitted tokenizers and classifiers are plain HDF5
// files any tool can open (h5ls, h5py).
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/records/h5.hpp"

namespace ldae {

void save_module(H5File& f, const std::string& prefix, const torch::nn::Module& m);
// Shapes must match the module's; a mismatch or missing tensor is an
// InputError naming the file and tensor.
void load_module(const H5File& f, const std::string& prefix, torch::nn::Module& m);

std::vector<float> to_f32(const torch::Tensor& t);
std::vector<uint64_t> shape_of(const torch::Tensor& t);

}  // namespace ldae
