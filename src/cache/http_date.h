#pragma once
// HTTP-date (RFC 9110 5.6.7): Date, Expires, Last-Modified, If-Modified-Since.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sg::cache {

// Parses the preferred IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the two obsolete
// forms recipients must accept: rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT") and
// asctime-date ("Sun Nov  6 08:49:37 1994"). Day names, month names and GMT match in any
// case (leniency all major caches share); surrounding whitespace is ignored. `now` resolves
// rfc850's two-digit year: a year that would be more than 50 years in the future is taken from the
// previous century. Anything else, including impossible dates such as 31 Feb, is nullopt.
std::optional<std::chrono::sys_seconds> parseHttpDate(std::string_view text,
                                                      std::chrono::sys_seconds now);

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string formatHttpDate(std::chrono::sys_seconds time);

}  // namespace sg::cache
