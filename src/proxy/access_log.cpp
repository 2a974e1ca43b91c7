#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace sg::proxy {

bool AccessLog::open(const std::string& path, std::string* error) {
  if (path.empty() || path == "-") {
    fd_ = STDOUT_FILENO;
    return true;
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = "cannot open access log " + path + ": " + std::strerror(errno);
    return false;
  }
  owns_fd_ = true;
  return true;
}

AccessLog::~AccessLog() {
  if (owns_fd_) ::close(fd_);
}

// Field values are octets (RFC 9110 5.5 obs-text), not necessarily UTF-8. Escaping every
// byte >= 0x80, not only invalid sequences, keeps the mapping reversible: valid UTF-8 passed
// through would read the same as other bytes escaped.
void appendJsonString(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      const char escape[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xf]};
      out->append(escape, sizeof(escape));
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AccessLog::write(const AccessRecord& record, std::string* scratch) const {
  std::string& line = *scratch;
  line.clear();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  fmt::format_to(std::back_inserter(line), "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, now.tv_nsec / 1'000'000);
  auto field = [&line](std::string_view name, std::string_view value) {
    line.append(",\"").append(name).append("\":");
    appendJsonString(&line, value);
  };
  field("listener", record.listener);
  field("route", record.route);
  field("method", record.method);
  field("path", record.path);
  fmt::format_to(std::back_inserter(line), ",\"status\":{}", record.status);
  field("upstream", record.upstream);
  field("upstream_server", record.upstream_server);
  fmt::format_to(std::back_inserter(line), ",\"duration_ms\":{:.3f}", record.duration_ms);
  field("client", record.client);
  field("request_id", record.request_id);
  fmt::format_to(std::back_inserter(line), ",\"bytes_sent\":{}}}\n", record.bytes_sent);
  [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
}

}  // namespace sg::proxy
