// A LibTorch archive (a checkpoint, a trained model, a TorchScript network)
// checked before it is loaded: the sizes its zip directory declares are read
// from the file and then allocated by the loader, so a file whose directory
// lies (damaged, or not one of ours) must be refused first.
#pragma once
#include <torch/torch.h>

#include <string>

namespace ldae {

// Every record of the archive at `path` declares at most the file's own size
// (LibTorch stores records uncompressed). InputError naming the file, the
// record and both sizes otherwise, or when the file is not a readable zip
// archive (with `what`, e.g. "checkpoint", in the message and how to fix it:
// delete it and rerun, which remakes it).
void check_archive(const std::string& path, const std::string& what);

// Why a LibTorch load failed, as one sentence for a message: a c10::Error
// without its backtrace, any other exception's text (TorchScript's
// unpickler, reading a damaged record, throws its own types).
std::string load_failure(const std::exception& e);

// m.load(ar), then every parameter and buffer of `m` checked to have kept
// its shape: LibTorch's Module::load puts the archive's tensor in place
// whatever its shape, so a file of another model would load silently and
// fail (or worse, run) later. InputError "<path>: <what> holds '<name>' of
// shape [..], the run's model has [..]" otherwise; LibTorch's own errors (a
// missing tensor) pass through as c10::Error. After an error `m` holds
// what was read: the caller builds it again.
void load_module_checked(torch::nn::Module& m, torch::serialize::InputArchive& ar, const std::string& path,
                         const std::string& what);

}  // namespace ldae
