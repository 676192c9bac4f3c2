// The prepared-data store (core/data/prepared_store.hpp): the same images as
// decoding them one by one, whatever the threads; an interrupted preparation
// resumes at its last complete chunk; processes started at once prepare once;
// a flipped byte fails its read, naming the chunk, which is prepared again
// once deleted; chunks written before the checksums are still read; a write
// that fails (a full disk) keeps the chunks written before it.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/errors.hpp"
#include "core/base/stop.hpp"
#include "core/data/prepared_store.hpp"
#include "tests/core/base/input_error_of.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/data/chunk_files.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

// 10 train and 5 test "files" whose image is a function of the name, so the
// decoder needs no files: (3, 4, 4) filled with the file's number.
StoreSource source() {
  StoreSource s;
  for (int i = 0; i < 10; ++i) s.train.push_back({std::to_string(i), i % 3});
  for (int i = 10; i < 15; ++i) s.test.push_back({std::to_string(i), i % 3});
  s.classes = 3;
  s.description = "synthetic";
  return s;
}

ImageSet image_of(const std::string& name) {
  ImageSet one;
  one.n = 1, one.c = 3, one.h = 4, one.w = 4;
  one.pixels.assign(48, uint8_t(std::stoi(name) * 7 + 1));
  return one;
}

// The sequential reference: every image decoded in order.
ImageSet reference(const std::vector<StoreSource::Item>& items) {
  ImageSet s;
  s.c = 3, s.h = 4, s.w = 4;
  for (const auto& it : items) {
    auto one = image_of(it.path);
    s.pixels.insert(s.pixels.end(), one.pixels.begin(), one.pixels.end());
    s.labels.push_back(it.label);
    ++s.n;
  }
  return s;
}

fs::path fresh_dir(const std::string& tag) {
  return fs::path(test::temp_dir("store-" + tag)) / "store";  // its lock beside it, inside
}

TEST(PreparedStore, EqualsDecodingOneByOneWhateverTheThreads) {
  const auto src = source();
  for (int threads : {1, 3}) {
    const auto dir = fresh_dir("threads" + std::to_string(threads));
    const auto m = prepare_store(src, dir.string(), 4, false, image_of, threads, /*chunk_images=*/4);
    EXPECT_EQ(m.train_counts, (std::vector<int64_t>{4, 4, 2}));
    EXPECT_EQ(m.test_counts, (std::vector<int64_t>{4, 1}));
    EXPECT_EQ(m.train_n, 10);
    for (const char* split : {"train", "test"}) {
      const auto got = read_store_split(dir.string(), m, split);
      const auto want = reference(std::string(split) == "train" ? src.train : src.test);
      EXPECT_EQ(got.n, want.n) << split;
      EXPECT_EQ(got.pixels, want.pixels) << split << ", " << threads << " threads";
      EXPECT_EQ(got.labels, want.labels) << split;
    }
    fs::remove_all(dir);
  }
}

TEST(PreparedStore, AStoppedPreparationResumesAtItsLastCompleteChunk) {
  const auto src = source();
  const auto dir = fresh_dir("resume");
  // One worker; a stop request after the 6th image: chunk 0 (images 0-3) is
  // written, chunk 1 is not.
  std::atomic<int> decoded{0};
  auto stopping = [&](const std::string& name) {
    if (++decoded == 6) stop_flag() = true;
    return image_of(name);
  };
  EXPECT_THROW(prepare_store(src, dir.string(), 4, false, stopping, 1, 4), Interrupted);
  stop_flag() = false;
  EXPECT_TRUE(fs::exists(dir / "train-00000.chunk"));
  EXPECT_FALSE(fs::exists(dir / "train-00001.chunk"));
  StoreManifest none;
  EXPECT_FALSE(read_store_manifest(dir.string(), &none));
  // The second preparation decodes only what is missing: 15 - 4 images.
  decoded = 0;
  auto counting = [&](const std::string& name) {
    ++decoded;
    return image_of(name);
  };
  const auto m = prepare_store(src, dir.string(), 4, false, counting, 2, 4);
  EXPECT_EQ(decoded.load(), 11);
  EXPECT_EQ(read_store_split(dir.string(), m, "train").pixels, reference(src.train).pixels);
  // Complete: a third call decodes nothing.
  decoded = 0;
  prepare_store(src, dir.string(), 4, false, counting, 2, 4);
  EXPECT_EQ(decoded.load(), 0);
  fs::remove_all(dir);
}

TEST(PreparedStore, BadImagesAreAnErrorOrSkippedAndCounted) {
  auto src = source();
  auto picky = [](const std::string& name) {
    if (name == "5") throw InputError("5.jpg: unreadable JPEG (test)");
    return image_of(name);
  };
  const auto dir = fresh_dir("bad");
  EXPECT_THROW(prepare_store(src, dir.string(), 4, false, picky, 2, 4), InputError);
  // The chunks written before the error are gone: the fix makes another store.
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".chunk"), std::string::npos) << e.path();
  const auto m = prepare_store(src, dir.string() + "-skip", 4, true, picky, 2, 4);
  EXPECT_EQ(m.skipped, 1);
  EXPECT_EQ(m.train_n, 9);
  const auto train = read_store_split(dir.string() + "-skip", m, "train");
  EXPECT_EQ(train.labels, (std::vector<int64_t>{0, 1, 2, 0, 1, 0, 1, 2, 0}));
  fs::remove_all(dir);
  fs::remove_all(dir.string() + "-skip");
}

TEST(PreparedStore, ProcessesStartedAtOncePrepareItOnce) {
  const auto src = source();
  const auto dir = fresh_dir("procs");
  const std::string log = dir.string() + ".decodes";
  fs::remove(log);
  // Each decode appends a line (O_APPEND: whole lines from any process).
  auto logging = [&](const std::string& name) {
    std::ofstream(log, std::ios::app) << name + "\n";
    usleep(2000);  // slow enough that the processes overlap
    return image_of(name);
  };
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        const auto m = prepare_store(src, dir.string(), 4, false, logging, 2, 4);
        rc = read_store_split(dir.string(), m, "train").pixels == reference(src.train).pixels ? 0 : 3;
      } catch (...) {
        rc = 4;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "process " << pid << " status " << status;
  }
  int lines = 0;
  std::ifstream in(log);
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 15) << "every image decoded once across the 4 processes";
  fs::remove_all(dir);
  fs::remove(log);
}

// source() prepared into a fresh store (*dir), 4 images a chunk.
StoreManifest prepared(const std::string& tag, fs::path* dir) {
  *dir = fresh_dir(tag);
  return prepare_store(source(), dir->string(), 4, false, image_of, 2, 4);
}

std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(PreparedStore, AFlippedPixelFailsItsReadNamingTheChunkAndImage) {
  const auto src = source();
  fs::path dir;
  const StoreManifest m = prepared("flip-pixel", &dir);
  const std::string chunk = store_chunk_path(dir.string(), "train", 1);
  test::flip_byte(chunk, -1);  // the last pixel of image 3 of chunk 1: image 7
  const ImageSet s = open_store_split(dir.string(), m, "train");  // heads intact
  std::vector<uint8_t> px(48);
  int64_t label = -1;
  s.store->read(4, px.data(), &label);  // the chunk's other images read
  EXPECT_EQ(px, image_of("4").pixels);
  EXPECT_EQ(label, 1);
  const std::string e = test::input_error_of([&] { s.store->read(7, px.data(), &label); });
  EXPECT_NE(e.find(chunk + ": image 3 of this chunk fails its checksum"), std::string::npos) << e;
  EXPECT_NE(e.find("delete " + chunk + " and run again"), std::string::npos) << e;
  EXPECT_NE(test::input_error_of([&] { read_store_split(dir.string(), m, "train"); }).find(chunk), std::string::npos);
  EXPECT_EQ(read_store_split(dir.string(), m, "test").pixels, reference(src.test).pixels);
}

TEST(PreparedStore, AFlippedLabelFailsTheOpenNamingTheChunk) {
  fs::path dir;
  const StoreManifest m = prepared("flip-label", &dir);
  const std::string chunk = store_chunk_path(dir.string(), "test", 0);
  test::flip_byte(chunk, kChunkHeaderBytes + 8 + 1);  // image 1's label
  const std::string e = test::input_error_of([&] { open_store_split(dir.string(), m, "test"); });
  EXPECT_NE(e.find(chunk + ": its head (labels, sizes, checksums) fails its checksum"), std::string::npos) << e;
  EXPECT_EQ(test::input_error_of([&] { open_store_split(dir.string(), m, "train"); }), "");
}

TEST(PreparedStore, ADeletedChunkOfACompleteStoreIsPreparedAgainAlone) {
  const auto src = source();
  fs::path dir;
  const StoreManifest m = prepared("redo", &dir);
  const std::string before = text_of(dir / "manifest.json");
  fs::remove(store_chunk_path(dir.string(), "train", 1));
  // A decoding error while repairing keeps the store's other chunks (its
  // files decoded once: the error is the file system's, not the image's).
  auto failing = [](const std::string&) -> ImageSet { throw InputError("unreadable (test)"); };
  const std::string e = test::input_error_of([&] { prepare_store(src, dir.string(), 4, false, failing, 2, 4); });
  EXPECT_NE(e.find("preparing the missing chunks of " + dir.string() + " again: unreadable (test)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("restore it and run again"), std::string::npos) << e;
  EXPECT_TRUE(fs::exists(store_chunk_path(dir.string(), "train", 0)));
  EXPECT_TRUE(fs::exists(dir / "manifest.json"));
  std::atomic<int> decoded{0};
  auto counting = [&](const std::string& name) {
    ++decoded;
    return image_of(name);
  };
  // Asked for other chunk sizes, the repair keeps the manifest's layout.
  const auto again = prepare_store(src, dir.string(), 4, false, counting, 2, /*chunk_images=*/3);
  EXPECT_EQ(decoded.load(), 4) << "only chunk 1's images";
  EXPECT_EQ(again.train_counts, m.train_counts);
  EXPECT_EQ(text_of(dir / "manifest.json"), before);
  EXPECT_EQ(read_store_split(dir.string(), again, "train").pixels, reference(src.train).pixels);
}

TEST(PreparedStore, AChunkDeletedOrPreparedAgainUnderAnOpenReaderIsAnErrorNotOtherPixels) {
  // A run reading the store while another process repairs a chunk: the
  // chunk, deleted, is missing (run again); prepared again, it may have
  // another layout (an old chunk becomes a checked one, its pixels 4n + 4
  // bytes further), so the open reader refuses it rather than reading at
  // its old offsets.
  const auto src = source();
  fs::path dir;
  const StoreManifest m = prepared("rebuilt", &dir);
  const std::string chunk = store_chunk_path(dir.string(), "train", 1);
  test::strip_checksums(chunk, false);
  const ImageSet s = open_store_split(dir.string(), m, "train");
  std::vector<uint8_t> px(48);
  fs::remove(chunk);
  std::string e = test::input_error_of([&] { s.store->read(5, px.data(), nullptr); });
  EXPECT_NE(e.find(chunk + ": missing (deleted since this run opened the store?); run again"), std::string::npos)
      << e;
  prepare_store(src, dir.string(), 4, false, image_of, 2, 4);  // the repair
  e = test::input_error_of([&] { s.store->read(5, px.data(), nullptr); });
  EXPECT_NE(e.find(chunk + ": prepared again since this run opened the store"), std::string::npos) << e;
  s.store->read(1, px.data(), nullptr);  // the other chunks read on
  EXPECT_EQ(px, image_of("1").pixels);
  const ImageSet again = open_store_split(dir.string(), m, "train");  // a new run reads the new chunk
  again.store->read(5, px.data(), nullptr);
  EXPECT_EQ(px, image_of("5").pixels);
}

TEST(PreparedStore, ChunksWrittenBeforeChecksumsAreReadUnchecked) {
  const auto src = source();
  fs::path dir;
  const StoreManifest m = prepared("old-format", &dir);
  for (int j = 0; j < 3; j += 2) test::strip_checksums(store_chunk_path(dir.string(), "train", j), false);
  const ImageSet s = open_store_split(dir.string(), m, "train");
  EXPECT_EQ(s.labels, reference(src.train).labels);
  std::vector<uint8_t> px(48);
  int64_t label = -1;
  for (int i : {0, 5, 9}) {  // an old chunk, the checked one, the last (old) one
    s.store->read(i, px.data(), &label);
    EXPECT_EQ(px, image_of(std::to_string(i)).pixels) << i;
    EXPECT_EQ(label, i % 3) << i;
  }
  EXPECT_EQ(read_store_split(dir.string(), m, "train").pixels, reference(src.train).pixels);
  test::flip_byte(store_chunk_path(dir.string(), "train", 0), -1);  // unchecked: read as it is
  EXPECT_EQ(test::input_error_of([&] { read_store_split(dir.string(), m, "train"); }), "");
}

}  // namespace
}  // namespace ldae

namespace ldae {
namespace {

// A file size limit (ulimit -f) for this process while it lives, SIGXFSZ
// ignored as run_sweep ignores it: past `bytes` a write fails with EFBIG,
// as one fails with ENOSPC when the disk fills.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = old_;
    r.rlim_cur = std::min(bytes, old_.rlim_max);
    setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, handler_);
  }

 private:
  rlimit old_{};
  void (*handler_)(int) = SIG_DFL;
};

TEST(PreparedStore, AWriteFailingDuringAFirstPreparationKeepsTheChunksBeforeItAndSaysWhy) {
  // Whole images, one worker: chunk 0's four 4 x 4 images make a file of
  // 316 bytes (a 124-byte head), chunk 1's 4 x 16 ones 892 bytes, so a
  // 600-byte file size limit writes chunk 0 and fails chunk 1 (the disk
  // filling midway).
  const auto src = source();
  const auto dir = fresh_dir("write-fails");
  std::atomic<int> decoded{0};
  auto wide = [&](const std::string& name) {
    ++decoded;
    ImageSet one = image_of(name);
    if (std::stoi(name) >= 4) one.w = 16, one.pixels.assign(3 * 4 * 16, uint8_t(std::stoi(name)));
    return one;
  };
  std::string e;
  {
    FileSizeLimit limit(600);
    e = test::input_error_of([&] { prepare_store(src, dir.string(), 4, false, wide, 1, 4, /*whole=*/true); });
  }
  EXPECT_NE(e.find(store_chunk_path(dir.string(), "train", 1) + ": cannot write"), std::string::npos) << e;
  EXPECT_NE(e.find(std::strerror(EFBIG)), std::string::npos) << "the errno's words: " << e;
  EXPECT_NE(e.find("free space (or raise the quota / file size limit) and rerun"), std::string::npos) << e;
  EXPECT_TRUE(fs::exists(store_chunk_path(dir.string(), "train", 0))) << "a full disk keeps what was written";
  EXPECT_FALSE(fs::exists(store_chunk_path(dir.string(), "train", 1)));
  for (const auto& f : fs::directory_iterator(dir))
    EXPECT_EQ(f.path().filename().string().find(".tmp"), std::string::npos) << f.path();
  // With room again the rerun decodes only the 11 images not written.
  decoded = 0;
  const auto m = prepare_store(src, dir.string(), 4, false, wide, 1, 4, /*whole=*/true);
  EXPECT_EQ(decoded.load(), 11);
  EXPECT_EQ(m.train_counts, (std::vector<int64_t>{4, 4, 2}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ldae
