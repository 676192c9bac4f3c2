// The shared shell of every program: bad input -> one clear line and exit 2,
// anything else -> "internal error" and exit 3.
#pragma once
#include <fmt/core.h>

#include <exception>

#include "core/errors.hpp"

namespace ldae {

template <class Body>
int guarded_main(const char* program, Body&& body) {
  try {
    return body();
  } catch (const InputError& e) {
    fmt::print(stderr, "{}: error: {}\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error: {}\n", program, e.what());
    return 3;
  }
}

}  // namespace ldae
