#include "core/data/source_files.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

#include "core/base/errors.hpp"
#include "core/data/data.hpp"

namespace ldae {

void SourceFiles::add(const std::string& path) {
  if (path.compare(0, prefix_.size(), prefix_) != 0)
    throw std::invalid_argument(fmt::format("SourceFiles: {} is not under {}", path, prefix_));
  blob_.append(path, prefix_.size(), std::string::npos);
  ends_.push_back(blob_.size());
}

std::string SourceFiles::path(int64_t i) const {
  if (i < 0 || i >= size()) throw std::out_of_range(fmt::format("SourceFiles: file {} of {}", i, size()));
  const uint64_t begin = i == 0 ? 0 : ends_[size_t(i - 1)];
  return prefix_ + blob_.substr(begin, ends_[size_t(i)] - begin);
}

namespace {
// The folder part every item's path starts with (up to its last '/').
std::string shared_folder(const std::vector<StoreSource::Item>& items) {
  if (items.empty()) return "";
  std::string prefix = items[0].path;
  for (const auto& it : items) {
    size_t k = 0;
    while (k < prefix.size() && k < it.path.size() && prefix[k] == it.path[k]) ++k;
    prefix.resize(k);
  }
  return prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
}
}  // namespace

SourceFiles store_source_files(const std::vector<StoreSource::Item>& items, const StoreManifest& m,
                               const std::string& dir, const std::string& split) {
  const auto& counts = split == "train" ? m.train_counts : m.test_counts;
  SourceFiles files(shared_folder(items));
  for (size_t j = 0; j < counts.size(); ++j) {
    const int64_t begin = int64_t(j) * m.chunk_images;
    const int64_t end = std::min<int64_t>(begin + m.chunk_images, int64_t(items.size()));
    if (end - begin == counts[j]) {
      for (int64_t i = begin; i < end; ++i) files.add(items[size_t(i)].path);
      continue;
    }
    // A chunk with skipped files: the ones that decode now, as they did when
    // it was prepared (its files are the listing's: same sizes and times).
    int64_t kept = 0;
    std::string failing;  // the first file that does not decode now, and why
    for (int64_t i = begin; i < end; ++i) {
      try {
        decode_image(items[size_t(i)].path);
      } catch (const InputError& e) {
        if (failing.empty()) failing = first_sentence(e.what(), 300);
        continue;
      }
      if (++kept <= counts[j]) files.add(items[size_t(i)].path);
    }
    if (kept != counts[j]) {
      // Most likely access (a file made unreadable since), else content
      // changed under the same size and time: the fix is the file's, and
      // deleting the chunk would prepare it from the files as they are now.
      const std::string chunk = store_chunk_path(dir, split, int64_t(j));
      throw InputError(fmt::format(
          "{}: kept {} of its {} files when it was prepared, but {} of them decode now{}{}. Make them readable, or "
          "restore them as they were, and run again; deleting {} instead prepares its images from the files as "
          "they are now (an unreadable one skipped: the data's fingerprint and the run ids change)",
          chunk, counts[j], end - begin, kept, failing.empty() ? "" : "; the first that does not: ", failing, chunk));
    }
  }
  return files;
}

}  // namespace ldae
