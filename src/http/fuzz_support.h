#pragma once
// Helpers shared by the fuzz targets in this folder (not linked into the gateway).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace sg::http::fuzz {

// A failed invariant aborts, so libFuzzer keeps the input that broke it.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}

// `v` is empty or lies inside `outer` (views handed out must point into the input).
inline bool inside(std::string_view outer, std::string_view v) {
  if (v.empty()) return true;
  return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

// FNV-1a: a cheap, deterministic fingerprint to derive splits and choices from the input.
inline uint64_t hashOf(std::string_view in) {
  uint64_t h = 1469598103934665603ULL;
  for (const char c : in) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

}  // namespace sg::http::fuzz
