// Named tensors, in an order that matters: what a safetensors file holds,
// and what a digest reads (core/export/safetensors.hpp, core/base/file_digest.hpp).
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace ldae {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

}  // namespace ldae
