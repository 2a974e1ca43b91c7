#pragma once
// PostgreSQL numeric values in their text form ("-12.340", "NaN", "Infinity"), for merging
// shard results: compare, add, and divide with PostgreSQL's result scale, so a merged sum or
// avg prints exactly as one server would have printed it. Hand-written: no library in Debian
// reads and writes PostgreSQL's numeric text with its scale rules.
#include <optional>
#include <string>
#include <string_view>

namespace sg::pg::scatter {

// 128-bit integers (GCC and Clang) for sums of int8 values.
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

class NumericText {
 public:
  enum class Kind : uint8_t { kFinite, kNaN, kPositiveInfinity, kNegativeInfinity };

  // Accepts numeric_out's forms: [-]digits[.digits], NaN, Infinity, -Infinity (also an
  // integer's text, for int8 sums). nullopt for anything else.
  static std::optional<NumericText> parse(std::string_view text);
  static NumericText fromInt(Int128 value);

  std::string toString() const;
  // numeric_cmp's order: NaN above everything (NaN equals NaN), then Infinity.
  static int compare(const NumericText& a, const NumericText& b);
  // numeric_add: the result's scale is the larger of the two.
  static NumericText add(const NumericText& a, const NumericText& b);
  // numeric_div: the quotient rounded (half away from zero) to select_div_scale's scale.
  // nullopt when `divisor` is zero (PostgreSQL: division by zero).
  static std::optional<NumericText> divide(const NumericText& dividend, const NumericText& divisor);
  // select_div_scale (numeric.c): at least 16 significant digits, never less than either
  // input's scale, within [0, 1000].
  static int divisionScale(const NumericText& dividend, const NumericText& divisor);

  Kind kind() const { return kind_; }
  int scale() const { return scale_; }
  bool isZero() const { return kind_ == Kind::kFinite && digits_.empty(); }

 private:
  Kind kind_ = Kind::kFinite;
  bool negative_ = false;
  std::string digits_;  // the unscaled magnitude in decimal, no leading zeros ("" is zero)
  int scale_ = 0;       // digits after the decimal point (numeric's display scale)

  static NumericText special(Kind kind);  // NaN or an infinity

  // Weight and first digit in PostgreSQL's base-10000 representation, as select_div_scale
  // reads them (0 and 0 for zero).
  void baseTenThousandLead(int* weight, int* first_digit) const;
};

}  // namespace sg::pg::scatter
