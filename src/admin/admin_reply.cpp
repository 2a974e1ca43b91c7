#include "admin/admin_reply.h"

namespace sg::admin {

namespace json = boost::json;

ServiceResponse jsonReply(int status, json::object document) {
  ServiceResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = json::serialize(document);
  response.body.push_back('\n');
  return response;
}

ServiceResponse errorReply(int status, std::string_view message) {
  json::object document;
  document["error"] = message;
  return jsonReply(status, std::move(document));
}

std::string percentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int value = 0;
      bool ok = true;
      for (size_t k = 1; k <= 2; ++k) {
        char c = text[i + k];
        value *= 16;
        if (c >= '0' && c <= '9')
          value += c - '0';
        else if (c >= 'a' && c <= 'f')
          value += c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
          value += c - 'A' + 10;
        else
          ok = false;
      }
      if (ok) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace sg::admin
