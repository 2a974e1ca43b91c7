#include "pg/scatter/numeric_text.h"

#include <algorithm>

namespace sg::pg::scatter {

namespace {

// Unsigned magnitudes as decimal digit strings without leading zeros ("" is zero).
std::string trimLeadingZeros(std::string digits) {
  const size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? std::string() : digits.substr(first);
}

int compareMagnitude(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  const int order = a.compare(b);
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

std::string addMagnitude(const std::string& a, const std::string& b) {
  std::string sum;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry != 0; ++i) {
    const int da = i < a.size() ? a[a.size() - 1 - i] - '0' : 0;
    const int db = i < b.size() ? b[b.size() - 1 - i] - '0' : 0;
    const int digit = da + db + carry;
    sum.push_back(static_cast<char>('0' + digit % 10));
    carry = digit / 10;
  }
  std::reverse(sum.begin(), sum.end());
  return trimLeadingZeros(sum);
}

// a - b for a >= b.
std::string subtractMagnitude(const std::string& a, const std::string& b) {
  std::string difference;
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int digit =
        (a[a.size() - 1 - i] - '0') - borrow - (i < b.size() ? b[b.size() - 1 - i] - '0' : 0);
    borrow = digit < 0 ? 1 : 0;
    difference.push_back(static_cast<char>('0' + digit + borrow * 10));
  }
  std::reverse(difference.begin(), difference.end());
  return trimLeadingZeros(difference);
}

// Long division of magnitudes: the quotient, and the remainder in *remainder.
std::string divideMagnitude(const std::string& dividend, const std::string& divisor,
                            std::string* remainder) {
  std::string quotient;
  std::string rest;
  for (const char digit : dividend) {
    rest = trimLeadingZeros(rest + digit);
    int times = 0;
    while (compareMagnitude(rest, divisor) >= 0) {
      rest = subtractMagnitude(rest, divisor);
      ++times;
    }
    quotient.push_back(static_cast<char>('0' + times));
  }
  *remainder = rest;
  return trimLeadingZeros(quotient);
}

std::string withZeros(const std::string& digits, int zeros) {
  return digits.empty() ? digits : digits + std::string(static_cast<size_t>(zeros), '0');
}

}  // namespace

NumericText NumericText::special(Kind kind) {
  NumericText value;
  value.kind_ = kind;
  return value;
}

std::optional<NumericText> NumericText::parse(std::string_view text) {
  NumericText value;
  if (text == "NaN") return special(Kind::kNaN);
  if (text == "Infinity") return special(Kind::kPositiveInfinity);
  if (text == "-Infinity") return special(Kind::kNegativeInfinity);
  if (!text.empty() && text.front() == '-') {
    value.negative_ = true;
    text.remove_prefix(1);
  }
  const size_t point = text.find('.');
  const std::string_view whole = text.substr(0, point);
  const std::string_view fraction =
      point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;
  for (const std::string_view part : {whole, fraction}) {
    if (!std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
  }
  value.digits_ = trimLeadingZeros(std::string(whole) + std::string(fraction));
  value.scale_ = static_cast<int>(fraction.size());
  if (value.digits_.empty()) value.negative_ = false;
  return value;
}

NumericText NumericText::fromInt(Int128 value) {
  NumericText number;
  number.negative_ = value < 0;
  UInt128 magnitude = number.negative_ ? -static_cast<UInt128>(value) : static_cast<UInt128>(value);
  for (; magnitude != 0; magnitude /= 10) {
    number.digits_.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
  }
  std::reverse(number.digits_.begin(), number.digits_.end());
  return number;
}

std::string NumericText::toString() const {
  switch (kind_) {
    case Kind::kNaN:
      return "NaN";
    case Kind::kPositiveInfinity:
      return "Infinity";
    case Kind::kNegativeInfinity:
      return "-Infinity";
    case Kind::kFinite:
      break;
  }
  std::string padded = digits_;
  const size_t scale = static_cast<size_t>(scale_);
  if (padded.size() <= scale) padded.insert(0, scale + 1 - padded.size(), '0');
  if (scale > 0) padded.insert(padded.size() - scale, ".");
  return (negative_ ? "-" : "") + padded;
}

int NumericText::compare(const NumericText& a, const NumericText& b) {
  // Rank: -Infinity, finite values, Infinity, NaN.
  const auto rank = [](Kind kind) {
    return kind == Kind::kNegativeInfinity   ? 0
           : kind == Kind::kFinite           ? 1
           : kind == Kind::kPositiveInfinity ? 2
                                             : 3;
  };
  if (rank(a.kind_) != rank(b.kind_)) return rank(a.kind_) < rank(b.kind_) ? -1 : 1;
  if (a.kind_ != Kind::kFinite) return 0;
  if (a.negative_ != b.negative_) return a.negative_ ? -1 : 1;
  const int scale = std::max(a.scale_, b.scale_);
  const int magnitude = compareMagnitude(withZeros(a.digits_, scale - a.scale_),
                                         withZeros(b.digits_, scale - b.scale_));
  return a.negative_ ? -magnitude : magnitude;
}

NumericText NumericText::add(const NumericText& a, const NumericText& b) {
  NumericText sum;
  if (a.kind_ == Kind::kNaN || b.kind_ == Kind::kNaN) return special(Kind::kNaN);
  if (a.kind_ != Kind::kFinite || b.kind_ != Kind::kFinite) {
    if (a.kind_ != Kind::kFinite && b.kind_ != Kind::kFinite && a.kind_ != b.kind_) {
      return special(Kind::kNaN);  // Infinity + -Infinity
    }
    return a.kind_ != Kind::kFinite ? a : b;
  }
  sum.scale_ = std::max(a.scale_, b.scale_);
  const std::string x = withZeros(a.digits_, sum.scale_ - a.scale_);
  const std::string y = withZeros(b.digits_, sum.scale_ - b.scale_);
  if (a.negative_ == b.negative_) {
    sum.digits_ = addMagnitude(x, y);
    sum.negative_ = a.negative_;
  } else if (compareMagnitude(x, y) >= 0) {
    sum.digits_ = subtractMagnitude(x, y);
    sum.negative_ = a.negative_;
  } else {
    sum.digits_ = subtractMagnitude(y, x);
    sum.negative_ = b.negative_;
  }
  if (sum.digits_.empty()) sum.negative_ = false;
  return sum;
}

void NumericText::baseTenThousandLead(int* weight, int* first_digit) const {
  *weight = 0;
  *first_digit = 0;
  if (digits_.empty()) return;
  // The power of ten of the leading digit, and the base-10000 group holding it (groups are
  // aligned at the decimal point: group w holds powers 4w .. 4w+3).
  const int lead_power = static_cast<int>(digits_.size()) - 1 - scale_;
  const int group = lead_power >= 0 ? lead_power / 4 : -((-lead_power + 3) / 4);
  *weight = group;
  for (int power = 4 * group + 3; power >= 4 * group; --power) {
    const int index = static_cast<int>(digits_.size()) - 1 - (power + scale_);
    const int digit =
        index >= 0 && index < static_cast<int>(digits_.size()) ? digits_[index] - '0' : 0;
    *first_digit = *first_digit * 10 + digit;
  }
}

int NumericText::divisionScale(const NumericText& dividend, const NumericText& divisor) {
  constexpr int kMinSignificantDigits = 16;  // NUMERIC_MIN_SIG_DIGITS
  constexpr int kDecimalDigitsPerGroup = 4;  // DEC_DIGITS
  constexpr int kMaxDisplayScale = 1000;     // NUMERIC_MAX_DISPLAY_SCALE
  int weight1 = 0, first1 = 0, weight2 = 0, first2 = 0;
  dividend.baseTenThousandLead(&weight1, &first1);
  divisor.baseTenThousandLead(&weight2, &first2);
  // If the leading groups are equal the quotient may be just below or above a power of
  // 10000; PostgreSQL assumes below.
  int quotient_weight = weight1 - weight2;
  if (first1 <= first2) --quotient_weight;
  int scale = kMinSignificantDigits - quotient_weight * kDecimalDigitsPerGroup;
  scale = std::max({scale, dividend.scale_, divisor.scale_, 0});
  return std::min(scale, kMaxDisplayScale);
}

std::optional<NumericText> NumericText::divide(const NumericText& dividend,
                                               const NumericText& divisor) {
  NumericText quotient;
  if (dividend.kind_ == Kind::kNaN || divisor.kind_ == Kind::kNaN) {
    return special(Kind::kNaN);
  }
  if (divisor.isZero()) return std::nullopt;
  if (dividend.kind_ != Kind::kFinite) {
    if (divisor.kind_ != Kind::kFinite) return special(Kind::kNaN);
    const bool positive = (dividend.kind_ == Kind::kPositiveInfinity) != divisor.negative_;
    quotient.kind_ = positive ? Kind::kPositiveInfinity : Kind::kNegativeInfinity;
    return quotient;
  }
  if (divisor.kind_ != Kind::kFinite) return quotient;  // finite / infinity is 0
  quotient.scale_ = divisionScale(dividend, divisor);
  // dividend / divisor * 10^scale = D1 * 10^(s2 - s1 + scale) / D2 for unscaled D1 and D2.
  const int shift = divisor.scale_ - dividend.scale_ + quotient.scale_;
  const std::string numerator = withZeros(dividend.digits_, std::max(shift, 0));
  const std::string denominator = withZeros(divisor.digits_, std::max(-shift, 0));
  std::string remainder;
  quotient.digits_ = divideMagnitude(numerator, denominator, &remainder);
  if (compareMagnitude(addMagnitude(remainder, remainder), denominator) >= 0) {
    quotient.digits_ = addMagnitude(quotient.digits_, "1");  // half rounds away from zero
  }
  quotient.negative_ = !quotient.digits_.empty() && dividend.negative_ != divisor.negative_;
  return quotient;
}

}  // namespace sg::pg::scatter
