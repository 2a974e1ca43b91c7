// Bound array parameters (`key = ANY($1)`) decoded as PostgreSQL's array_in and array_recv read
// them, each refusal with its SQLSTATE, and hostile input refused without a crash.
#include "pg/shard/array_value.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace sg::pg::shard {
namespace {

// Elements as one line: values comma-separated, NULL for SQL NULL, a 'b' prefix for binary
// (followed by the bytes' length); "error SQLSTATE" when refused.
std::string render(const ArrayResult& result) {
  if (auto* error = std::get_if<KeyError>(&result)) return "error " + error->sqlstate;
  std::string out;
  for (const ArrayElement& e : std::get<std::vector<ArrayElement>>(result)) {
    if (!out.empty()) out += ",";
    if (!e.value) {
      out += "NULL";
    } else if (e.format == Format::kBinary) {
      out += "b" + std::to_string(e.value->size());
    } else {
      out += *e.value;
    }
  }
  return out;
}

std::string text(std::string_view literal, KeyType type = KeyType::kBigint) {
  return render(decodeArray(literal, Format::kText, type));
}

void put32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

void put16(std::string* out, uint16_t value) {
  out->push_back(static_cast<char>(value >> 8));
  out->push_back(static_cast<char>(value));
}

// array_send's bytes for one dimension of elements (nullopt: NULL).
std::string binaryArray(uint32_t oid, const std::vector<std::optional<std::string>>& elements,
                        int32_t lower_bound = 1) {
  std::string out;
  put32(&out, 1);
  bool nulls = false;
  for (const auto& e : elements) nulls = nulls || !e;
  put32(&out, nulls ? 1 : 0);
  put32(&out, oid);
  put32(&out, static_cast<uint32_t>(elements.size()));
  put32(&out, static_cast<uint32_t>(lower_bound));
  for (const auto& e : elements) {
    if (!e) {
      put32(&out, 0xFFFFFFFFu);
      continue;
    }
    put32(&out, static_cast<uint32_t>(e->size()));
    out += *e;
  }
  return out;
}

std::string int8Bytes(int64_t value) {
  std::string out;
  put32(&out, static_cast<uint32_t>(static_cast<uint64_t>(value) >> 32));
  put32(&out, static_cast<uint32_t>(value));
  return out;
}

std::string int4Bytes(int32_t value) {
  std::string out;
  put32(&out, static_cast<uint32_t>(value));
  return out;
}

// numeric_send: digits in base 10000, weight of the first, sign, display scale.
std::string numericBytes(std::vector<uint16_t> digits, int16_t weight, uint16_t sign,
                         uint16_t scale = 0) {
  std::string out;
  put16(&out, static_cast<uint16_t>(digits.size()));
  put16(&out, static_cast<uint16_t>(weight));
  put16(&out, sign);
  put16(&out, scale);
  for (uint16_t d : digits) put16(&out, d);
  return out;
}

std::string binary(const std::string& bytes, KeyType type = KeyType::kBigint) {
  return render(decodeArray(bytes, Format::kBinary, type));
}

TEST(ArrayValueText, ElementsQuotesEscapesAndNull) {
  EXPECT_EQ(text("{1,2,3}"), "1,2,3");
  EXPECT_EQ(text("  { 1 , 2 ,3 }  "), "1,2,3");
  EXPECT_EQ(text("{}"), "");
  EXPECT_EQ(text("{ }"), "");
  EXPECT_EQ(text("{NULL,null,\"NULL\",\\NULL}"), "NULL,NULL,NULL,NULL");
  // Only the bare word is NULL: quoted or escaped it is the text NULL.
  auto quoted = decodeArray("{\"NULL\",N\\ULL}", Format::kText, KeyType::kText);
  const auto& elements = std::get<std::vector<ArrayElement>>(quoted);
  ASSERT_EQ(elements.size(), 2u);
  EXPECT_EQ(elements[0].value, "NULL");
  EXPECT_EQ(elements[1].value, "NULL");
  EXPECT_EQ(text("{\"a,b\",\"c\\\"d\",\"e\\\\f\",\"{g}\"}", KeyType::kText), "a,b,c\"d,e\\f,{g}");
  EXPECT_EQ(text("{a b , c\\ ,\\,}", KeyType::kText), "a b,c ,,");
  EXPECT_EQ(text("{\"\"}", KeyType::kText), "");  // one empty string
  EXPECT_EQ(text("{-5,+7,9223372036854775807}"), "-5,+7,9223372036854775807");
}

TEST(ArrayValueText, DimensionDecorations) {
  EXPECT_EQ(text("[1:3]={1,2,3}"), "1,2,3");
  EXPECT_EQ(text("[0:1] = {4,5}"), "4,5");
  EXPECT_EQ(text("[-2:-1]={4,5}"), "4,5");
  EXPECT_EQ(text("[2]={4,5}"), "4,5");  // [upper]: lower bound 1
  EXPECT_EQ(text("[1:3]={1,2}"), "error 22P02");
  EXPECT_EQ(text("[3:1]={1,2,3}"), "error 22P02");
  EXPECT_EQ(text("[1:3]{1,2,3}"), "error 22P02");
  EXPECT_EQ(text("[1:]={1}"), "error 22P02");
  EXPECT_EQ(text("[1:3={1,2,3}"), "error 22P02");
  EXPECT_EQ(text("[1:99999999999]={1}"), "error 22P02");
  EXPECT_EQ(text("[1:1000000]={1}"), "error 54000");
}

TEST(ArrayValueText, SeveralDimensionsRefused) {
  EXPECT_EQ(text("{{1,2},{3,4}}"), "error 0A000");
  EXPECT_EQ(text("{1,{2}}"), "error 0A000");
  EXPECT_EQ(text("[1:2][1:2]={{1,2},{3,4}}"), "error 0A000");
}

TEST(ArrayValueText, MalformedLiterals) {
  for (const char* literal : {"", "1,2", "{1,2", "{1,,2}", "{,}", "{1,}", "{\"a}", "{a\"b}",
                              "{1} x", "{\"a\"b}", "{1 2", "{1\\", "[", "[1:2]=", "{1}}", "}"}) {
    EXPECT_EQ(text(literal, KeyType::kText), "error 22P02") << literal;
  }
}

TEST(ArrayValueText, TooManyElementsRefused) {
  std::string literal = "{";
  for (size_t i = 0; i <= kMaxArrayElements; ++i) literal += "1,";
  literal.back() = '}';
  EXPECT_EQ(text(literal), "error 54000");
  literal = "{";
  for (size_t i = 0; i < kMaxArrayElements; ++i) literal += "1,";
  literal.back() = '}';
  EXPECT_EQ(
      std::get<std::vector<ArrayElement>>(decodeArray(literal, Format::kText, KeyType::kBigint))
          .size(),
      kMaxArrayElements);
}

TEST(ArrayValueBinary, IntegerElementsOfAnyWidthForAnIntegerKey) {
  EXPECT_EQ(binary(binaryArray(20, {int8Bytes(5), std::nullopt, int8Bytes(-1)})), "b8,NULL,b8");
  EXPECT_EQ(binary(binaryArray(23, {int4Bytes(7)}), KeyType::kInteger), "b4");
  EXPECT_EQ(binary(binaryArray(23, {int4Bytes(7)}, 0)), "b4");  // any lower bound
  EXPECT_EQ(binary(binaryArray(21, {std::string("\0\7", 2)}), KeyType::kBigint), "b2");
  // Text-like elements are their text (textrecv): read as the key's input.
  EXPECT_EQ(binary(binaryArray(25, {std::string("42")})), "42");
  EXPECT_EQ(binary(binaryArray(1043, {std::string("x")}), KeyType::kText), "x");
  EXPECT_EQ(binary(binaryArray(25, {std::string("x")}), KeyType::kText), "b1");  // its own type
  // An empty array: no dimension at all.
  std::string empty;
  put32(&empty, 0);
  put32(&empty, 0);
  put32(&empty, 20);
  EXPECT_EQ(binary(empty), "");
}

TEST(ArrayValueBinary, NumericElementsAsIntegers) {
  constexpr uint16_t kNeg = 0x4000;
  auto numeric = [](std::vector<std::string> values) {
    std::vector<std::optional<std::string>> elements(values.begin(), values.end());
    return binary(binaryArray(1700, elements));
  };
  EXPECT_EQ(numeric({numericBytes({5}, 0, 0)}), "5");
  EXPECT_EQ(numeric({numericBytes({12, 3456}, 1, kNeg)}), "-123456");
  EXPECT_EQ(numeric({numericBytes({1}, 2, 0)}), "100000000");  // trailing groups left out
  EXPECT_EQ(numeric({numericBytes({7, 0}, 0, 0, 2)}), "7");    // 7.00
  EXPECT_EQ(numeric({numericBytes({}, 0, 0)}), "0");
  // No integer equals these: left out.
  EXPECT_EQ(
      numeric({numericBytes({7, 5000}, 0, 0, 1), numericBytes({}, 0, 0xC000),
               numericBytes({1}, 5, 0), numericBytes({}, 0, 0xD000), numericBytes({5}, 0, 0)}),
      "5");
  EXPECT_EQ(numeric({numericBytes({922, 3372, 368, 5477, 5808}, 4, kNeg)}), "-9223372036854775808");
  EXPECT_EQ(numeric({numericBytes({922, 3372, 368, 5477, 5808}, 4, 0)}), "");  // 2^63
  EXPECT_EQ(numeric({numericBytes({10000}, 0, 0)}), "error 22P03");
  EXPECT_EQ(numeric({numericBytes({1}, 0, 0x1234)}), "error 22P03");
  EXPECT_EQ(numeric({numericBytes({1, 2}, 0, 0).substr(0, 10)}), "error 22P03");
  // A numeric is not compared with a text key here.
  EXPECT_EQ(binary(binaryArray(1700, {numericBytes({5}, 0, 0)}), KeyType::kText), "error 0A000");
}

TEST(ArrayValueBinary, ElementTypeMustMatchTheKey) {
  EXPECT_EQ(binary(binaryArray(20, {int8Bytes(5)}), KeyType::kText), "error 0A000");
  EXPECT_EQ(binary(binaryArray(2950, {std::string(16, 'x')}), KeyType::kUuid), "b16");
  EXPECT_EQ(binary(binaryArray(2950, {std::string(16, 'x')}), KeyType::kBigint), "error 0A000");
  EXPECT_EQ(binary(binaryArray(16, {std::string(1, '\1')}), KeyType::kBoolean), "b1");
  EXPECT_EQ(binary(binaryArray(1082, {int4Bytes(0)}), KeyType::kDate), "b4");
  EXPECT_EQ(binary(binaryArray(1114, {int8Bytes(0)}), KeyType::kTimestamp), "b8");
  EXPECT_EQ(binary(binaryArray(701, {int8Bytes(0)})), "error 0A000");  // float8
}

TEST(ArrayValueBinary, MalformedAndHostileInput) {
  const std::string good = binaryArray(20, {int8Bytes(5), int8Bytes(6)});
  for (size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_EQ(binary(good.substr(0, cut)), "error 22P03") << cut;
  EXPECT_EQ(binary(good + "x"), "error 22P03");
  auto with = [&](size_t offset, uint32_t value) {
    std::string bytes = good;
    std::string word;
    put32(&word, value);
    bytes.replace(offset, 4, word);
    return binary(bytes);
  };
  EXPECT_EQ(with(0, 2), "error 0A000");             // two dimensions
  EXPECT_EQ(with(0, 7), "error 22P03");             // more than MAXDIM
  EXPECT_EQ(with(0, 0xFFFFFFFFu), "error 22P03");   // negative
  EXPECT_EQ(with(4, 2), "error 22P03");             // flags
  EXPECT_EQ(with(12, 0xFFFFFFFFu), "error 22P03");  // negative dimension
  EXPECT_EQ(with(12, 0x7FFFFFFFu), "error 54000");  // huge dimension
  EXPECT_EQ(with(12, 1000), "error 22P03");         // more elements than bytes
  EXPECT_EQ(with(20, 0xFFFFFFFEu), "error 22P03");  // element length -2
  EXPECT_EQ(with(20, 0x7FFFFFFFu), "error 22P03");  // element longer than the array
}

TEST(ArrayValue, RandomBytesNeverCrash) {
  std::mt19937 random(17);
  const std::string seeds[] = {binaryArray(20, {int8Bytes(5), std::nullopt}),
                               binaryArray(1700, {numericBytes({1, 2}, 1, 0)}),
                               "[1:2]={\"a\\\"\",NULL}", "{1,{2}}"};
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = seeds[round % 4];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int i = 0; i < edits && !bytes.empty(); ++i)
      bytes[random() % bytes.size()] = static_cast<char>(random());
    if (random() % 3 == 0) bytes.resize(random() % (bytes.size() + 1));
    for (Format format : {Format::kText, Format::kBinary}) {
      auto result = decodeArray(bytes, format, KeyType::kBigint);
      if (auto* elements = std::get_if<std::vector<ArrayElement>>(&result)) {
        EXPECT_LE(elements->size(), bytes.size());
      }
    }
  }
}

}  // namespace
}  // namespace sg::pg::shard
