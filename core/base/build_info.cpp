#include "core/base/build_info.hpp"

#include "ldae_git_commit.h"  // generated at build time (cmake/git_commit.cmake)

#include <ATen/Version.h>
#include <ATen/cpu/Utils.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <Eigen/Core>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#include <fmt/core.h>
#include <hdf5.h>
#include <sqlite3.h>
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "core/base/errors.hpp"
#include "core/base/threads.hpp"

namespace ldae {
namespace {

// CUDA's and cuDNN's integer versions: CUDA 13000 -> "13.0"; cuDNN 9.x
// encodes major * 10000 + minor * 100 + patch (91900 -> "9.19.0").
std::string cuda_str(long v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }
std::string cudnn_str(long v) { return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100); }

template <class F>
std::string or_unknown(F&& f) {
  try {
    return f();
  } catch (const std::exception&) {
    return "?";
  }
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

BuildInfo build_info() {
  BuildInfo b;
  b.libtorch = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  // The stub hooks (no libtorch_cuda) throw on every query.
  try {
    b.cuda = cuda_str(hooks.versionCUDART());
    b.cuda_compiled = true;
  } catch (const std::exception&) {
    b.cuda = "";
  }
  b.cuda_toolkit = cuda_str(CUDART_VERSION);
  if (b.cuda_compiled) {
    b.cudnn = or_unknown([&] { return cudnn_str(hooks.versionCuDNN()); });
    b.nccl = or_unknown([] { return c10d::getNcclVersion(); });
  }
  b.cpu_capability = or_unknown([] { return at::get_cpu_capability(); });
  try {
    // The instructions that decide bf16 / int8 speed on the CPU.
    for (const auto& [name, value] : at::cpu::get_cpu_capabilities()) {
      const bool wanted = name.find("bf16") != std::string::npos || name.find("fp16") != std::string::npos ||
                          name.find("amx") != std::string::npos || name.find("vnni") != std::string::npos;
      if (wanted && value.isBool() && value.toBool()) b.cpu_features.push_back(name);
    }
    std::sort(b.cpu_features.begin(), b.cpu_features.end());
  } catch (const std::exception&) {
  }
  if (b.cuda_compiled) {
    // A driver that answers the count but not the properties (a broken or
    // busy GPU) must not fail a run's record: the GPU is then listed as "?".
    const int n = int(c10::cuda::device_count());
    for (int i = 0; i < n; ++i)
      b.gpus.push_back(or_unknown([i] {
        const cudaDeviceProp* p = at::cuda::getDeviceProperties(c10::DeviceIndex(i));
        return fmt::format("{} ({:.1f} GiB, sm_{}{})", p->name, double(p->totalGlobalMem) / (1ull << 30),
                           p->major, p->minor);
      }));
  }
  b.hdf5 = fmt::format("{}.{}.{}", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
  b.sqlite = SQLITE_VERSION;
  b.eigen = fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  return b;
}

std::string version_report(const std::string& program) {
  const BuildInfo b = build_info();
  std::string s = fmt::format("{} (l-DAE harness " LDAE_VERSION ", commit " LDAE_GIT_COMMIT ")\n", program);
  s += fmt::format("LibTorch  {}\n", b.libtorch);
  if (b.cuda_compiled)
    s += fmt::format("CUDA      {} (LibTorch's runtime; compiled against toolkit {}), cuDNN {}, NCCL {}\n",
                     b.cuda, b.cuda_toolkit, b.cudnn, b.nccl);
  else
    s += "CUDA      not compiled in\n";
  std::string threads;  // what a run uses without --threads or train.threads
  try {
    const int n = default_threads();
    threads = fmt::format("{} thread{} by default", n, n == 1 ? "" : "s");
  } catch (const InputError& e) {
    threads = e.what();
  }
  s += fmt::format("CPU       {} kernels, {}; {}\n", b.cpu_capability, threads,
                   b.cpu_features.empty() ? "no bf16/fp16/AMX/VNNI instructions" : joined(b.cpu_features, ", "));
  s += fmt::format("GPUs      {}\n", b.gpus.empty() ? "none visible (training runs on the CPU)"
                                                    : joined(b.gpus, "; "));
  s += fmt::format("HDF5 {}, SQLite {}, Eigen {}\n", b.hdf5, b.sqlite, b.eigen);
  return s;
}

std::string library_versions() {
  const BuildInfo b = build_info();
  const std::string cuda =
      b.cuda_compiled ? fmt::format(" (CUDA {}, cuDNN {}, NCCL {})", b.cuda, b.cudnn, b.nccl) : " (CPU only)";
  return fmt::format("libtorch {}{}, cpu {}, hdf5 {}, sqlite {}, eigen {}", b.libtorch, cuda,
                     b.cpu_capability, b.hdf5, b.sqlite, b.eigen);
}

}  // namespace ldae
