// core/base/errors.hpp: what an error message keeps of a library's message.
#include <gtest/gtest.h>

#include "core/base/errors.hpp"

namespace ldae {

TEST(FirstSentence, KeepsTheFirstLineUpToItsFirstSentenceEnd) {
  // LibTorch's message for a file that is not a zip archive (2.11).
  EXPECT_EQ(first_sentence("PytorchStreamReader failed reading zip archive: failed finding central directory. This "
                           "is an internal miniz error. If you are seeing this error, there is a high likelihood"),
            "PytorchStreamReader failed reading zip archive: failed finding central directory");
  EXPECT_EQ(first_sentence("size mismatch for blocks.0.w\nException raised from load at x.cpp:12"),
            "size mismatch for blocks.0.w");
  EXPECT_EQ(first_sentence("version 1.2.3 is unknown"), "version 1.2.3 is unknown");  // "." inside a word stays
  EXPECT_EQ(first_sentence(""), "");
}

TEST(FirstSentence, CutsALongSentenceWithAnEllipsis) {
  const std::string cut = first_sentence(std::string(500, 'a'), 20);
  EXPECT_EQ(cut, std::string(17, 'a') + "...");
  EXPECT_EQ(first_sentence(std::string(20, 'a'), 20), std::string(20, 'a'));
}

}  // namespace ldae
