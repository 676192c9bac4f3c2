// Content digests, XXH3-128 as 32 hex digits: of a file's bytes, read in
// 1 MiB pieces (memory flat whatever the file's size), for keys of caches
// that depend on a file a user brings (a TorchScript feature network); and
// of a module's tensors, kept with a trained model.
#pragma once
#include <torch/torch.h>

#include <string>

namespace ldae {

// InputError naming the path when it cannot be read.
std::string file_digest(const std::string& path);

// Every parameter and buffer of `m`: names, dtypes, shapes and bytes, in
// registration order. Kept with a trained model and compared when it is
// loaded: LibTorch's zip reader checks no CRC, so flipped bits inside a
// tensor would load silently.
std::string module_digest(const torch::nn::Module& m);

}  // namespace ldae
