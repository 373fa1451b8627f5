// SPDX-License-Identifier: GPL-2.0-or-later
//
// The reader of untrusted JSON (src/json.h): limits, repeated keys, bytes a
// lexer would stop at, raw members kept byte for byte.

#include "src/json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace meshcap::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(JsonTest, ParsesAndKeepsKeyOrder) {
  absl::StatusOr<Json> doc =
      ParseJson(R"({"b": 1, "a": [true, null, "x", 1.5, -2]})", {});
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(DumpJson(*doc), R"({"b":1,"a":[true,null,"x",1.5,-2]})");
}

TEST(JsonTest, RefusesNestingDeeperThanTheLimitSayingWhere) {
  const std::string ok = std::string(8, '[') + std::string(8, ']');
  EXPECT_TRUE(ParseJson(ok, {.max_depth = 8}).ok());
  absl::StatusOr<Json> deep =
      ParseJson(R"({"a": [{"b": [[]]}]})", {.max_depth = 4});
  ASSERT_FALSE(deep.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(deep.status()));
  EXPECT_THAT(Message(deep.status()),
              HasSubstr("nested deeper than 4 levels at a[0].b[0]"));
  // 50,000 levels, as in issue 18: refused at level 65, nothing recursed.
  const std::string bomb = std::string(50000, '[') + std::string(50000, ']');
  deep = ParseJson(bomb, {.max_bytes = 1 << 20});
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(Message(deep.status()), HasSubstr("deeper than 64 levels"));
}

TEST(JsonTest, NamesARepeatedKeyByItsPath) {
  absl::StatusOr<Json> doc = ParseJson(R"({"a": 1, "a": 2})", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(doc.status()));
  EXPECT_EQ(Message(doc.status()), "key 'a' is given twice in the top level");
  doc = ParseJson(R"({"x": [{}, {"k": 1, "k": 2}]})", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(Message(doc.status()), "key 'k' is given twice in x[1]");
  // The same key in sibling objects is fine.
  EXPECT_TRUE(ParseJson(R"([{"k": 1}, {"k": 2}])", {}).ok());
}

TEST(JsonTest, ANulByteOrAnythingAfterTheValueIsAnError) {
  absl::StatusOr<Json> doc = ParseJson(std::string("{}\0{\"a\":1}", 10), {});
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(Message(doc.status()), "not valid JSON: a NUL byte at offset 2");
  doc = ParseJson("{} []", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_THAT(Message(doc.status()), HasSubstr("not valid JSON"));
  EXPECT_TRUE(ParseJson("{}\n\t ", {}).ok());
}

TEST(JsonTest, RefusesADocumentOverTheSizeLimitUnread) {
  absl::StatusOr<Json> doc = ParseJson("[1, 2, 3]", {.max_bytes = 8});
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(Message(doc.status()),
            "the document is 9 bytes, more than the limit of 8");
}

TEST(JsonTest, KeepsChosenMembersAsTheirBytes) {
  const std::string text =
      R"({"a": 1, "r": { "x" : [1,2 ] ,"y":-3.5e1}, "s": [ {"k":1} ], "b": 2})";
  absl::StatusOr<ParsedJson> p = ParseJsonKeepingRaw(text, {}, {"r", "s"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(DumpJson(p->doc), R"({"a":1,"b":2})");
  EXPECT_EQ(p->raw.at("r"), R"({ "x" : [1,2 ] ,"y":-3.5e1})");
  EXPECT_EQ(p->raw.at("s"), R"([ {"k":1} ])");
  EXPECT_THAT(p->raw_keys.at("r"), ElementsAre("x", "y"));
  // A scalar under a raw key is built: the caller sees its type.
  p = ParseJsonKeepingRaw(R"({"r": 7})", {}, {"r"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->doc["r"], 7);
  EXPECT_TRUE(p->raw.empty());
  // Not an object.
  p = ParseJsonKeepingRaw("[]", {}, {"r"});
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(p.status()));
}

TEST(JsonTest, RawMembersAreCheckedUnlessOnlyTheirSyntaxIsAskedFor) {
  const std::string deep = R"({"keep": {"a": 1}, "r": )" +
                           std::string(100000, '[') + std::string(100000, ']') +
                           "}";
  EXPECT_FALSE(ParseJsonKeepingRaw(deep, {.max_bytes = 1 << 20}, {"r"}).ok());
  absl::StatusOr<ParsedJson> p = ParseJsonKeepingRaw(
      deep, {.max_bytes = 1 << 20}, {"r"}, /*raw_syntax_only=*/true);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->raw.at("r").size(), 200000u);
  EXPECT_EQ(DumpJson(p->doc), R"({"keep":{"a":1}})");
  // Syntax is still checked, and the rest of the document as ever.
  EXPECT_FALSE(ParseJsonKeepingRaw(R"({"r": [1,,2]})", {}, {"r"}, true).ok());
  EXPECT_FALSE(ParseJsonKeepingRaw(R"({"r": [], "a": [[[]]]})",
                                   {.max_depth = 2}, {"r"}, true)
                   .ok());
  // Repeated keys inside are not ours to judge then; beside it, they are.
  EXPECT_TRUE(
      ParseJsonKeepingRaw(R"({"r": {"k":1,"k":2}})", {}, {"r"}, true).ok());
  EXPECT_FALSE(
      ParseJsonKeepingRaw(R"({"r": {}, "r": {}})", {}, {"r"}, true).ok());
}

TEST(JsonTest, TypedReadsNeverThrow) {
  absl::StatusOr<Json> doc = ParseJson(
      R"({"s": "x", "i": -3, "u": 18446744073709551615, "b": true, "f": 1.5})",
      {});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(GetString(*doc, "s"), "x");
  EXPECT_EQ(GetString(*doc, "i"), std::nullopt);
  EXPECT_EQ(GetInt(*doc, "i"), -3);
  EXPECT_EQ(GetInt(*doc, "u"), std::nullopt);  // over INT64_MAX
  EXPECT_EQ(GetUint(*doc, "u"), UINT64_MAX);
  EXPECT_EQ(GetUint(*doc, "i"), std::nullopt);
  EXPECT_EQ(GetBool(*doc, "b"), true);
  EXPECT_EQ(GetBool(*doc, "s"), std::nullopt);
  EXPECT_EQ(GetInt(*doc, "f"), std::nullopt);
  EXPECT_EQ(GetMember(*doc, "missing"), nullptr);
  EXPECT_EQ(GetString(Json::array(), "s"), std::nullopt);
}

TEST(JsonTest, BigObjectsAndArraysParse) {
  // 80,000 objects in an array and one object of 50,000 keys: what made
  // the callback parser quadratic (issue 18). Time is the benchmark's
  // (bench/cni_parse_benchmark); here, that they parse to the right size.
  std::string array = "[";
  for (int i = 0; i < 80000; ++i) {
    array += (i ? "," : "") + std::string(R"({"name":"eth","mac":"00:11"})");
  }
  array += "]";
  absl::StatusOr<Json> doc = ParseJson(array, {.max_bytes = 64 << 20});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->size(), 80000u);
  std::string object = "{";
  for (int i = 0; i < 50000; ++i) {
    object += (i ? "," : "") +
              ("\"k" + std::to_string(i) + "\":" + std::to_string(i));
  }
  object += "}";
  doc = ParseJson(object, {.max_bytes = 64 << 20});
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->size(), 50000u);
  EXPECT_EQ((*doc)["k49999"], 49999);
}

}  // namespace
}  // namespace meshcap::internal
