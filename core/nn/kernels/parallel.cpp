// The parallel_for probe of kernels/parallel.hpp, compiled once per
// instruction set with the same flags as the kernels beside it.
#include "core/nn/kernels/parallel.hpp"

#include <mutex>
#include <set>
#include <thread>

namespace ldae::kernels::CPU_CAPABILITY {

int64_t parallel_for_threads(int64_t items) {
  std::mutex m;
  std::set<std::thread::id> seen;
  at::parallel_for(0, items, 1, [&](int64_t, int64_t) {
    const std::lock_guard<std::mutex> lock(m);
    seen.insert(std::this_thread::get_id());
  });
  return int64_t(seen.size());
}

bool built_with_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace ldae::kernels::CPU_CAPABILITY
