#pragma once
// JSON-lines access log (off by default). Each worker formats its own line and writes it
// with one write(2) to a file opened O_APPEND, so lines from workers never interleave.
#include <cstdint>
#include <string>
#include <string_view>

namespace sg::proxy {

struct AccessRecord {
  std::string_view listener;
  std::string_view route;
  std::string_view method;
  std::string_view path;
  int status = 0;
  std::string_view upstream;
  std::string_view upstream_server;
  double duration_ms = 0;
  std::string_view client;
  std::string_view request_id;
  uint64_t bytes_sent = 0;
};

class AccessLog {
 public:
  // path "-" or empty: standard output. Returns false with *error on failure to open.
  bool open(const std::string& path, std::string* error);
  ~AccessLog();
  void write(const AccessRecord& record, std::string* scratch) const;

 private:
  int fd_ = -1;
  bool owns_fd_ = false;
};

// Appends `text` as a JSON string literal (quotes included) to `out`. The literal is ASCII:
// control bytes, DEL and every byte >= 0x80 are written as \u00XX, so each byte maps to the
// code point of the same value (the Latin-1 reading) and the exact bytes can be recovered.
void appendJsonString(std::string* out, std::string_view text);

}  // namespace sg::proxy
