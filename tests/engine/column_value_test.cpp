// Canonical column values: what the fold produces must equal what PostgreSQL prints back.
#include <gtest/gtest.h>

#include "engine/column_value.hpp"

using namespace reproj::engine;

TEST(ColumnValue, NumericTakesPostgresScaleRules) {
  EXPECT_EQ(canonical::numeric("10.50"), "10.50");
  EXPECT_EQ(canonical::numeric("-0.00"), "0.00");
  EXPECT_EQ(canonical::numeric("1.50e1"), "15.0");
  EXPECT_EQ(canonical::numeric("2e3"), "2000");
  EXPECT_EQ(canonical::numeric("1e-3"), "0.001");
  EXPECT_EQ(canonical::numeric(".5"), "0.5");
  EXPECT_EQ(canonical::numeric("+007"), "7");
  EXPECT_EQ(canonical::numeric("0.08"), "0.08");  // "008" is not octal
  EXPECT_EQ(canonical::numeric("09.9"), "9.9");
  EXPECT_EQ(canonical::numeric("123456789012345678901234567890.123"), "123456789012345678901234567890.123");
  for (const char* bad : {"", "-", ".", "1.2.3", "abc", "1e", "1e+", "NaN", "1 ", "1e5000"}) {
    EXPECT_EQ(canonical::numeric(bad), std::nullopt) << bad;
  }
}

TEST(ColumnValue, NumericAdditionIsExactAtTheLargerScale) {
  EXPECT_EQ(canonical::numeric_add("0.1", "0.2"), "0.3");
  EXPECT_EQ(canonical::numeric_add("10.50", "3"), "13.50");
  EXPECT_EQ(canonical::numeric_add("1", "1.005", true), "-0.005");
  EXPECT_EQ(canonical::numeric_add("5.5", "5.5", true), "0.0");
  EXPECT_EQ(canonical::numeric_add("99999999999999999999", "1"), "100000000000000000000");
}

TEST(ColumnValue, TimestampsBecomeUtcMicrosecondsAsPostgresPrintsThem) {
  EXPECT_EQ(canonical::timestamp("2026-11-30T19:43:18Z"), "2026-11-30 19:43:18+00");
  EXPECT_EQ(canonical::timestamp("2026-11-30 20:43:18.120+01"), "2026-11-30 19:43:18.12+00");
  EXPECT_EQ(canonical::timestamp("2026-11-30T19:43:18.1234567+00:00"), "2026-11-30 19:43:18.123457+00");
  EXPECT_EQ(canonical::timestamp("2026-12-01T01:13:18+0530"), "2026-11-30 19:43:18+00");
  for (const char* bad : {"2026-11-30", "2026-11-30T19:43:18", "yesterday", "2026-13-01T00:00:00Z", "10000-01-01T00:00:00Z"}) {
    EXPECT_EQ(canonical::timestamp(bad), std::nullopt) << bad;
  }
}

TEST(ColumnValue, TextAndJsonFormsRoundTrip) {
  EXPECT_EQ(value_from_text(ColumnType::kJsonb, R"({"b": [1, 2], "a": "x"})"), Value{std::string{R"({"a":"x","b":[1,2]})"}});
  EXPECT_EQ(value_from_text(ColumnType::kDouble, "0.1"), Value{0.1});
  EXPECT_EQ(value_to_text(Value{0.1}), "0.1");
  EXPECT_EQ(value_from_json(ColumnType::kTimestamptz, "2026-11-30T19:43:18.5+00:00"), Value{std::string{"2026-11-30 19:43:18.5+00"}});
  EXPECT_EQ(value_to_json(ColumnType::kTimestamptz, Value{std::string{"2026-11-30 19:43:18.5+00"}}), "2026-11-30T19:43:18.5+00:00");
  EXPECT_EQ(value_to_json(ColumnType::kNumeric, Value{std::string{"70"}}).dump(), "70");
  EXPECT_THROW(value_from_text(ColumnType::kBigint, "12x"), std::invalid_argument);
}
