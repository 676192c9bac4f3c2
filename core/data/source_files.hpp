// The original image file behind each image of a prepared store, for
// data.crops_from = "files": random resized crops decoded from the file
// itself, as the official recipes' loaders do (torchvision's ImageFolder +
// RandomResizedCrop on the PIL image: MAE main_pretrain.py and
// main_linprobe.py, MoCo v3, DINO), rather than from the image the store
// keeps, already resized to data.resolution on its shorter side.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/prepared_store.hpp"

namespace ldae {

// Paths packed in one buffer after a prefix they share: an ImageNet path
// under the split's folder ("/n01440764/n01440764_10026.JPEG", 31 bytes)
// plus 8 an image, about 50 MB for ImageNet's train split (against 130 MB
// as std::strings of the whole paths).
class SourceFiles {
 public:
  explicit SourceFiles(std::string prefix = "") : prefix_(std::move(prefix)) {}
  // std::invalid_argument for a path that does not start with the prefix.
  void add(const std::string& path);
  std::string path(int64_t i) const;  // std::out_of_range outside [0, size())
  int64_t size() const { return int64_t(ends_.size()); }

 private:
  std::string prefix_, blob_;
  std::vector<uint64_t> ends_;
};

// The files of one split of a prepared store, one per stored image, in the
// store's order: the split's listing (`items`, as prepare_store took it)
// without the files preparation skipped (data.skip_bad). In a chunk that
// kept fewer images than it was given, which ones were skipped is found by
// decoding its files again (the store records only the count); InputError
// naming the chunk and the first file that does not decode when the files
// decodable now are not as many as it kept (made unreadable or changed
// since: the fix is the file's).
SourceFiles store_source_files(const std::vector<StoreSource::Item>& items, const StoreManifest& m,
                               const std::string& dir, const std::string& split);

}  // namespace ldae
