#include "cache/vary_normalise.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "cache/text.h"

namespace sg::cache {
namespace {

constexpr int kQMax = 1000;  // q-values in thousandths
constexpr int kOpaque = -1;  // sorts opaque elements after every weighted one

struct Element {
  std::string name;  // lower-cased; the whole element for an opaque one
  int q = kQMax;     // kOpaque: kept verbatim
};

// RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
std::optional<int> parseQValue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  const bool one = text[0] == '1';
  if (text.size() == 1) return one ? kQMax : 0;
  if (text[1] != '.' || text.size() > 5) return std::nullopt;
  int value = 0;
  int scale = 100;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9' || (one && c != '0')) return std::nullopt;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return one ? kQMax : value;
}

std::string formatQValue(int q) {
  std::string out = "0.";
  out += static_cast<char>('0' + q / 100);
  out += static_cast<char>('0' + q / 10 % 10);
  out += static_cast<char>('0' + q % 10);
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

// "EN-gb ; q=0.50" → {"en-gb", 500}; anything but a bare name with at most a q weight is
// opaque.
Element parseElement(std::string_view element) {
  const size_t semicolon = element.find(';');
  const std::string_view name = detail::trimOws(element.substr(0, semicolon));
  Element opaque{std::string(element), kOpaque};
  if (name.empty() || name.find_first_of(" \t\"=") != std::string_view::npos) return opaque;
  Element out{detail::toLower(name), kQMax};
  if (semicolon == std::string_view::npos) return out;
  const std::string_view parameter = detail::trimOws(element.substr(semicolon + 1));
  const size_t equals = parameter.find('=');
  if (equals == std::string_view::npos ||
      !detail::equalsIgnoreCase(detail::trimOws(parameter.substr(0, equals)), "q")) {
    return opaque;
  }
  const auto q = parseQValue(detail::trimOws(parameter.substr(equals + 1)));
  if (!q) return opaque;
  out.q = *q;
  return out;
}

std::vector<Element> parseElements(std::string_view value) {
  std::vector<Element> elements;
  detail::forEachListElement(
      value, [&](std::string_view element) { elements.push_back(parseElement(element)); });
  return elements;
}

std::string normaliseWeightedList(std::string_view value, bool is_encoding) {
  std::vector<Element> elements = parseElements(value);
  const bool wildcard = std::any_of(elements.begin(), elements.end(), [](const Element& e) {
    return e.q != kOpaque && e.name == "*";
  });
  std::erase_if(elements, [&](const Element& e) {
    return e.q == 0 && !wildcard && !(is_encoding && e.name == "identity");
  });
  std::sort(elements.begin(), elements.end(), [](const Element& a, const Element& b) {
    return a.q != b.q ? a.q > b.q : a.name < b.name;
  });
  std::string out;
  const Element* previous = nullptr;
  for (const Element& element : elements) {
    if (previous != nullptr && previous->q == element.q && previous->name == element.name) {
      continue;  // a repeated element says nothing new
    }
    previous = &element;
    if (!out.empty()) out += ',';
    out += element.name;
    if (element.q != kOpaque && element.q != kQMax) {
      out += ";q=";
      out += formatQValue(element.q);
    }
  }
  return out;
}

}  // namespace

bool hasSemanticNormalisation(std::string_view name) {
  return detail::equalsIgnoreCase(name, "accept-language") ||
         detail::equalsIgnoreCase(name, "accept-encoding");
}

std::string normaliseVaryValue(std::string_view name, std::string value) {
  if (detail::equalsIgnoreCase(name, "accept-language")) return normaliseWeightedList(value, false);
  if (detail::equalsIgnoreCase(name, "accept-encoding")) return normaliseWeightedList(value, true);
  return value;
}

bool acceptLanguageSelects(std::string_view accept_language, std::string_view content_language) {
  std::vector<std::string_view> tags;
  detail::forEachListElement(content_language, [&](std::string_view tag) { tags.push_back(tag); });
  if (tags.size() != 1) return false;
  const std::vector<Element> ranges = parseElements(normaliseWeightedList(accept_language, false));
  if (ranges.empty()) return false;
  const Element& best = ranges.front();
  if (best.q == kOpaque || best.q == 0 || best.name == "*") return false;
  if (ranges.size() > 1 && ranges[1].q == best.q) return false;  // a tie: origin's choice
  return detail::equalsIgnoreCase(best.name, tags.front());
}

}  // namespace sg::cache
