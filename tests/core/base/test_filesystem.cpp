// remove_tree (core/base/filesystem.hpp) and the symbol lookup order that makes
// std::filesystem safe to call beside PyPI's libtorch.so.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include <torch/torch.h>

#include "core/base/archive_check.hpp"
#include "core/base/errors.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/file_digest.hpp"
#include "core/base/filesystem.hpp"
#include "tests/core/base/input_error_of.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

TEST(Filesystem, RemoveTreeRemovesNestedFilesButNotWhatLinksPointTo) {
  const fs::path root = fs::path(test::temp_dir("rmtree"));
  const fs::path outside = fs::path(test::temp_dir("rmtree-keep"));
  fs::create_directories(root / "a/b/c");
  fs::create_directories(outside);
  std::ofstream(root / "a/x.txt") << "x";
  std::ofstream(root / "a/b/c/y.txt") << "y";
  std::ofstream(outside / "keep.txt") << "k";
  fs::create_directory_symlink(outside, root / "a/link");
  // root, a, b, c, x.txt, y.txt, link = 7 entries.
  EXPECT_EQ(remove_tree(root.string()), 7u);
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(outside / "keep.txt"));  // the link went, not its target
  EXPECT_EQ(remove_tree(root.string()), 0u);      // missing: nothing to do
  EXPECT_EQ(remove_tree(outside.string()), 2u);
}

TEST(Filesystem, RemoveTreeNamesWhatItCannotRemove) {
  if (geteuid() == 0) GTEST_SKIP() << "root may remove anything";
  const fs::path root = fs::path(test::temp_dir("rmtree-ro"));
  fs::create_directories(root / "locked");
  std::ofstream(root / "locked/f") << "f";
  fs::permissions(root / "locked", fs::perms::owner_read | fs::perms::owner_exec);
  try {
    remove_tree(root.string());
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("locked/f"), std::string::npos) << e.what();
  }
  fs::permissions(root / "locked", fs::perms::owner_all);
  EXPECT_EQ(remove_tree(root.string()), 3u);
}

// libtorch.so (PyPI) exports GCC 13's std::filesystem functions; ours must
// come from libstdc++ (CMakeLists.txt names it first at link time). Where
// this fails, std::filesystem::remove_all crashes: remove_tree avoids it,
// and this test says why the other functions may misbehave.
TEST(Filesystem, StdFilesystemComesFromLibstdcxx) {
  using Status = fs::file_status (*)(const fs::path&);
  Status status_fn = &fs::status;
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(status_fn), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_NE(std::string(info.dli_fname).find("libstdc++"), std::string::npos)
      << "std::filesystem::status resolves to " << info.dli_fname;
}

// Temporaries of a writer killed mid-write (its pid gone) on this host are
// removed; a live process's, another host's and ordinary files are kept.
TEST(AtomicFile, StaleTemporariesOfDeadWritersAreRemoved) {
  const std::string dir = test::temp_dir("stale");
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // a pid that no longer exists
  const std::string mine = temp_name(dir + "/run.json");  // this (live) process
  const std::string host = mine.substr(mine.find(".tmp.") + 5, mine.rfind('.', mine.rfind('.') - 1) - mine.find(".tmp.") - 5);
  const std::string dead = fmt::format("{}/metrics.h5.tmp.{}.{}.0", dir, host, child);
  const std::string other = fmt::format("{}/run.json.tmp.other.host.{}.3", dir, child);
  for (const auto& f : {mine, dead, other, dir + "/run.json"}) std::ofstream(f) << "x";
  EXPECT_EQ(remove_stale_temporaries(dir), 1u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(dir + "/run.json"));
  EXPECT_EQ(remove_stale_temporaries(dir + "/absent"), 0u);
  remove_tree(dir);
}

// A write that fails on a read-only file system is told so, with the fix
// for it (another folder), not "free space" (the fix for a full disk).
TEST(AtomicFile, AReadOnlyFileSystemIsNotCalledFull) {
  const std::string dir = test::temp_dir("erofs");
  fs::create_directories(dir);
  try {
    write_file_atomically(dir + "/x.txt", [](const std::string&) {
      throw std::system_error(EROFS, std::generic_category(), "cannot create");
    });
    FAIL() << "EROFS must be an input error";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("read-only"), std::string::npos) << m;
    EXPECT_NE(m.find("writable file system"), std::string::npos) << m;
    EXPECT_EQ(m.find("free space"), std::string::npos) << m;
  }
  try {
    write_file_atomically(dir + "/x.txt", [](const std::string&) {
      throw std::system_error(ENOSPC, std::generic_category(), "cannot write");
    });
    FAIL() << "ENOSPC must be an input error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("free space"), std::string::npos) << e.what();
  }
  // Any other error the system reports (a failing disk's EIO): the
  // environment, an input error naming the file, not an internal error.
  const std::string eio = test::input_error_of([&] {
    write_file_atomically(dir + "/x.txt", [](const std::string&) {
      throw std::system_error(EIO, std::generic_category(), "cannot write");
    });
  });
  EXPECT_NE(eio.find(dir + "/x.txt: cannot write"), std::string::npos) << eio;
  EXPECT_NE(eio.find("check the disk"), std::string::npos) << eio;
  EXPECT_FALSE(fs::exists(dir + "/x.txt"));
  // A folder the user may not write in (root may: the writer's EACCES
  // stands in), and a folder where the file goes: input errors saying so.
  try {
    write_file_atomically(dir + "/x.txt", [](const std::string&) {
      throw std::system_error(EACCES, std::generic_category(), "cannot create");
    });
    FAIL() << "EACCES must be an input error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("this user may not write in"), std::string::npos) << e.what();
  }
  fs::create_directories(dir + "/x.txt");
  try {
    write_file_atomically(dir + "/x.txt", [](const std::string& tmp) { std::ofstream(tmp) << "x"; });
    FAIL() << "a folder in the way must be an input error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("it is a folder, not a file"), std::string::npos) << e.what();
  }
  remove_tree(dir);
}

// LibTorch's Module::load takes the archive's tensors whatever their shapes
// (a model of another width loads silently); load_module_checked refuses
// them naming the tensor and both shapes, and loads a matching archive.
TEST(ArchiveCheck, AModuleOfOtherShapesIsRefusedNamingTheTensor) {
  torch::nn::Linear wide(4, 5), narrow(4, 3), same(4, 3);
  torch::serialize::OutputArchive out;
  wide->save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  try {
    load_module_checked(*narrow, in, "m.pt", "trained model");
    FAIL() << "a 5 x 4 weight loaded into a 3 x 4 layer";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("m.pt: trained model holds 'weight' of shape [5, 4], the run's model has "
                                         "[3, 4]"),
              std::string::npos)
        << e.what();
  }
  torch::nn::Linear other(4, 3);  // (narrow holds the refused tensors now: a caller builds its model again)
  torch::serialize::OutputArchive out2;
  other->save(out2);
  std::stringstream bytes2;
  out2.save_to(bytes2);
  torch::serialize::InputArchive in2;
  in2.load_from(bytes2);
  EXPECT_NO_THROW(load_module_checked(*same, in2, "m.pt", "trained model"));
  EXPECT_TRUE(torch::equal(same->weight, other->weight));
}

// A module's digest covers every tensor's bytes, names and shapes.
TEST(ArchiveCheck, AModulesDigestChangesWithOneValue) {
  torch::manual_seed(0);
  torch::nn::Linear a(4, 3);
  torch::manual_seed(0);
  torch::nn::Linear b(4, 3);
  EXPECT_EQ(module_digest(*a), module_digest(*b));
  EXPECT_EQ(module_digest(*a).size(), 32u);
  {
    torch::NoGradGuard ng;
    b->weight[1][2].add_(1e-6);
  }
  EXPECT_NE(module_digest(*a), module_digest(*b));
  torch::manual_seed(0);
  torch::nn::Linear c(3, 4);  // the same count of values, other shapes
  EXPECT_NE(module_digest(*a), module_digest(*c));
}

// A LibTorch archive whose zip directory declares a record larger than the
// file (a header that lies) is refused before loading, naming the file; a
// written archive passes.
TEST(ArchiveCheck, ARecordDeclaringMoreThanItsFileIsRefused) {
  const auto path = test::temp_dir("archive") + "/archive.pt";
  torch::serialize::OutputArchive out;
  out.write("weights", torch::arange(1000, torch::kFloat32));
  out.save_to(path);
  EXPECT_NO_THROW(check_archive(path, "checkpoint"));
  // The first central-directory entry (PK\1\2) says deflated, 2^31 bytes
  // once inflated: a zip reader accepts that directory; the loader would
  // allocate 2 GB for it.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  int patched = 0;
  for (size_t i = 0; i + 28 <= bytes.size(); ++i)
    if (patched == 0 && bytes.compare(i, 4, "PK\x01\x02") == 0) {
      bytes[i + 10] = 8, bytes[i + 11] = 0;  // method: deflate
      bytes[i + 27] = char(0x80), bytes[i + 26] = 0, bytes[i + 25] = 0, bytes[i + 24] = 0;  // uncompressed size
      ++patched;
    }
  ASSERT_GT(patched, 0);
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    check_archive(path, "checkpoint");
    FAIL() << "an archive declaring 2 GB records in a small file passed";
  } catch (const ldae::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": checkpoint"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("declares 2147483648 bytes"), std::string::npos) << e.what();
  }
  std::ofstream(path, std::ios::binary) << "not a zip at all";
  EXPECT_THROW(check_archive(path, "checkpoint"), ldae::InputError);
  std::filesystem::remove(path);
}

