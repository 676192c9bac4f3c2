// What this build was compiled against and what it finds at run time:
// LibTorch, CUDA, cuDNN, NCCL, the CPU kernels LibTorch dispatches to, the
// GPUs visible. `run_sweep --version` prints it; run.json keeps the one-line
// form so every result names the stack that produced it.
#pragma once
#include <string>
#include <vector>

namespace ldae {

struct BuildInfo {
  std::string libtorch;         // e.g. "2.11.0" (TORCH_VERSION)
  bool cuda_compiled = false;   // libtorch_cuda linked and its hooks registered
  std::string cuda;             // CUDA runtime LibTorch was built with, "13.0"
  std::string cuda_toolkit;     // CUDA headers this build compiled against, "13.0"
  std::string cudnn;            // "9.19.0", "" without CUDA
  std::string nccl;             // "2.28.9", "" without CUDA
  std::string cpu_capability;   // LibTorch's CPU kernel level: "DEFAULT" | "AVX2" | "AVX512"
  std::vector<std::string> cpu_features;  // bf16/fp16/AMX/VNNI instructions the CPU has (avx512_bf16...)
  std::vector<std::string> gpus;          // "NVIDIA H200 (139.8 GiB, sm_90)" per visible device
  std::string hdf5, sqlite, eigen;
};

// Reads everything above; never throws (a part that cannot be read is "?").
BuildInfo build_info();

// Several lines for --version: one per component.
std::string version_report(const std::string& program);

// One line for run records: "libtorch 2.11.0 (CUDA 13.0, cuDNN 9.19.0, NCCL
// 2.28.9), cpu AVX512, hdf5 1.10.8, sqlite 3.40.1, eigen 3.4.0".
std::string library_versions();

}  // namespace ldae
