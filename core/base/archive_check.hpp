// A LibTorch archive (a checkpoint, a trained model, a TorchScript network)
// checked before it is loaded: the sizes its zip directory declares are read
// from the file and then allocated by the loader, so a file whose directory
// lies (damaged, or not one of ours) must be refused first.
#pragma once
#include <string>

namespace ldae {

// Every record of the archive at `path` declares at most the file's own size
// (LibTorch stores records uncompressed). InputError naming the file, the
// record and both sizes otherwise, or when the file is not a readable zip
// archive (with `what`, e.g. "checkpoint", in the message and how to fix it:
// delete it and rerun, which remakes it).
void check_archive(const std::string& path, const std::string& what);

}  // namespace ldae
