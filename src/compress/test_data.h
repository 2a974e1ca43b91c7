#pragma once
// Deterministic test inputs: incompressible random bytes and compressible JSON-ish text.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace sg::compress::testing {

inline std::string randomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xff);
  return data;
}

// Looks like an API response: repeated keys, varied values.
inline std::string jsonText(size_t size, uint32_t seed) {
  static const char* const kKeys[] = {"id",   "name",  "email",       "created_at", "status",
                                      "tags", "score", "description", "owner",      "updated_at"};
  static const char* const kWords[] = {"alpha",   "bravo", "charlie", "delta", "echo", "active",
                                       "pending", "the",   "quick",   "brown", "fox",  "jumps"};
  std::mt19937 rng(seed);
  std::string text = "[";
  while (text.size() < size) {
    text += "{";
    for (const char* key : kKeys) {
      text += "\"";
      text += key;
      text += "\": ";
      if (rng() % 2 == 0) {
        text += std::to_string(rng() % 100000);
      } else {
        text += "\"";
        text += kWords[rng() % 12];
        text += " ";
        text += kWords[rng() % 12];
        text += "\"";
      }
      text += ", ";
    }
    text += "\"n\": null},\n";
  }
  text.resize(size);
  return text;
}

}  // namespace sg::compress::testing
