#include "engine/detail/copy_text.hpp"

#include <gtest/gtest.h>

using reproj::engine::detail::append_copy_field;
using reproj::engine::detail::decode_copy_line;

TEST(CopyText, DecodesFieldsNullsAndEscapes) {
  std::vector<std::string> f;
  std::vector<bool> n;
  decode_copy_line("1\t\\N\ta\\tb\\nc\\\\d\t{\"x\": \"q\\\\\"w\"}\t", f, n);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0], "1");
  EXPECT_TRUE(n[1]);
  EXPECT_EQ(f[2], "a\tb\nc\\d");
  EXPECT_EQ(f[3], "{\"x\": \"q\\\"w\"}");
  EXPECT_EQ(f[4], "");
  EXPECT_FALSE(n[4]);
}

TEST(CopyText, EncodeThenDecodeRoundTrips) {
  const std::vector<std::string> values{"plain", "tab\there", "nl\nand\rcr", "back\\slash\\N", "", "\\N"};
  std::string line;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) line += '\t';
    append_copy_field(line, values[i]);
  }
  std::vector<std::string> f;
  std::vector<bool> n;
  decode_copy_line(line, f, n);
  ASSERT_EQ(f.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f[i], values[i]) << "field " << i;
    EXPECT_FALSE(n[i]) << "field " << i;
  }
}

TEST(CopyText, OctalEscapesDecode) {
  std::vector<std::string> f;
  std::vector<bool> n;
  decode_copy_line("\\101\\0102", f, n);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0], "A\b2");
}
