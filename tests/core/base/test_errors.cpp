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

// A message that starts with a line break (LibTorch's unpickler errors) keeps
// its first non-empty line; the bytes of a damaged file it quotes are shown
// as \xHH, so a log stays text (grep reads it as text), while UTF-8 stays.
TEST(FirstSentence, SkipsLeadingBlankLinesAndEscapesBytesThatAreNotText) {
  EXPECT_EQ(first_sentence("\n\nunknown opcode 'x'. More text"), "unknown opcode 'x'");
  EXPECT_EQ(first_sentence(" \n \t"), "");
  EXPECT_EQ(first_sentence(std::string("found protocol = \x80\x1e here")), "found protocol = \\x80\\x1E here");
  EXPECT_EQ(first_sentence("caf\xC3\xA9 \xC3 \x7F"), "caf\xC3\xA9 \\xC3 \\x7F");
  EXPECT_EQ(first_bad_utf8(first_sentence(std::string("a\xff\xfe\xC3\xA9"))), std::string::npos);
  // A cut never splits a character: "\xC3\xA9" (2 bytes) stays whole or goes.
  const std::string e = "\xC3\xA9";
  EXPECT_EQ(first_sentence(std::string(16, 'a') + e + "bcdef", 20), std::string(16, 'a') + "...");
  EXPECT_EQ(first_sentence(std::string(15, 'a') + e + "bcdef", 20), std::string(15, 'a') + e + "...");
}

TEST(ReasonAbout, DropsThePathAndTheAdvice) {
  EXPECT_EQ(reason_about("/r/t.h5: HDF5: cannot read dataset basis; delete it to refit", "/r/t.h5"),
            "HDF5: cannot read dataset basis");
  EXPECT_EQ(reason_about("/r/m.pt: /r/m.pt: not a zip archive; delete it (rerunning remakes it)", "/r/m.pt"),
            "not a zip archive");
  EXPECT_EQ(reason_about("something else", "/r/m.pt"), "something else");
}

}  // namespace ldae
