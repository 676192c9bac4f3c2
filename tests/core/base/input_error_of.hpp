// The message of the InputError a call throws, for tests of what an error
// says: "" when it throws none (any other exception passes through).
#pragma once
#include <string>

#include "core/base/errors.hpp"

namespace ldae::test {

template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace ldae::test
