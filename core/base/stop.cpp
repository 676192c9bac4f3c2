#include "core/base/stop.hpp"

namespace ldae {

std::atomic<bool>& stop_flag() {
  static std::atomic<bool> flag{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "signal handlers store to it");
  return flag;
}

}  // namespace ldae
