#pragma once
// Internal number parsing shared by the duration/size parsers and the YAML readers.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::config::detail {

// Plain decimal digits only: no sign, no spaces, no hex, no exponent. nullopt on overflow.
std::optional<uint64_t> parseUnsigned(std::string_view text);

// 1048576 -> "1MiB", 1536 -> "1536B": for readable range messages.
std::string formatSize(uint64_t bytes);

// 90000ms -> "90s", 1500ms -> "1500ms", 7200000ms -> "2h": the largest exact unit.
std::string formatDuration(std::chrono::milliseconds duration);

}  // namespace sg::config::detail
