// Content digests, XXH3-128 as 32 hex digits: of a file's bytes, read in
// 1 MiB pieces (memory flat whatever the file's size), for keys of caches
// that depend on a file a user brings (a TorchScript feature network); and
// of a module's tensors, kept with a trained model.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/base/named_tensors.hpp"

namespace ldae {

// InputError naming the path when it cannot be read.
std::string file_digest(const std::string& path);

// Named tensors: each name, dtype, shape and bytes, in the order given.
// Kept with what is saved (a trained model, a checkpoint) and compared when
// it is loaded: LibTorch's zip reader checks no CRC, so flipped bits inside
// a tensor would load silently.
std::string tensors_digest(const NamedTensors& named);

// Every parameter and buffer of `m`, in registration order, named
// prefix + the module's own name.
NamedTensors module_tensors(const torch::nn::Module& m, const std::string& prefix = "");
// tensors_digest(module_tensors(m)).
std::string module_digest(const torch::nn::Module& m);

}  // namespace ldae
