// "1 run", "2 runs": a count with its noun, for the programs' messages.
#pragma once
#include <fmt/core.h>

#include <cstdint>
#include <string>

namespace ldae {

// n and `noun`, with an "s" unless n is 1 (nouns of this project's messages
// take a plain "s": run, row, image, step).
inline std::string count_of(int64_t n, const std::string& noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

}  // namespace ldae
