#pragma once
// A Lua script run with EVALSHA: its SHA1 is computed once here, so the first call already
// goes by digest, and a NOSCRIPT reply (a restarted or flushed Redis) resends it whole.
#include <string>
#include <string_view>

namespace sg::store {

class Script {
 public:
  explicit Script(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex, as Redis spells it

 private:
  std::string source_;
  std::string sha1_;
};

// `EVALSHA sha1 1 key args...` (run on the key's node); *tail_offset is where the part after
// the digest begins, so the same command can be re-encoded as EVAL.
void appendScriptCall(std::string* out, const Script& script, std::string_view key,
                      std::initializer_list<std::string_view> args);
void appendScriptCall(std::string* out, const Script& script, std::string_view key,
                      const std::string_view* args, size_t count);
// The EVAL form of an EVALSHA command made by appendScriptCall.
std::string evalFormOf(const std::string& evalsha_command, const Script& script);

}  // namespace sg::store
