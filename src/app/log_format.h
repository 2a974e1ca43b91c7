#pragma once
// How the process's log lines look on stderr: `text` (spdlog's default pattern) or `json` (one
// object per line, for journald/Docker/Kubernetes log collectors).
#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sg::app {

enum class LogFormat { text, json };

// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> parseLogFormat(std::string_view name);

// Appends `text` as a JSON string literal (with the quotes). Escapes quotes, backslashes and
// control characters; bytes that are not valid UTF-8 become U+FFFD, so the line stays valid JSON
// whatever a message carries (a header value, a path from a bad request).
void appendJsonString(std::string_view text, std::string& out);

// {"time":"2026-12-04T12:00:00.123Z","level":"info","logger":"scalegate","msg":"..."}
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Replaces spdlog's default logger with one named "scalegate" writing `format` to stderr.
void installDefaultLogger(LogFormat format);

}  // namespace sg::app
