// safetensors files (Hugging Face's format, github.com/huggingface/safetensors,
// "Format" in its README): an 8-byte little-endian header length N, N bytes
// of JSON {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [begin,
// end]}, ..., "__metadata__": {"key": "text"}}, padded with spaces to a
// multiple of 8, then the tensors' raw little-endian bytes back to back.
// No C++ writer is packaged by Debian; the format is this small, so it is
// written here by its specification and read back by Python's `safetensors`
// in CTest python_encoder_export (tests/python/).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "core/base/named_tensors.hpp"

namespace ldae {

// Writes `tensors` (any device; float32, float64, bfloat16, float16, int64,
// int32, uint8, bool) with text metadata to `path`, atomically
// (write_file_atomically: InputError on a full disk). Tensors are stored in
// the order given. InputError for an unsupported dtype, a repeated or empty
// name, or the reserved name "__metadata__".
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Reads a file write_safetensors wrote (or any safetensors file of those
// dtypes) -> tensors in file order (CPU) and its metadata. InputError naming
// the file for a header longer than the file, offsets outside the data, a
// shape whose size disagrees with its offsets, or an unknown dtype: checked
// before any tensor is allocated.
NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace ldae
