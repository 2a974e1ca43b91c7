#pragma once
// Reply and request helpers shared by the admin endpoints.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "admin/http_service.h"

namespace sg::admin {

ServiceResponse jsonReply(int status, boost::json::object document);
// {"error": message}
ServiceResponse errorReply(int status, std::string_view message);
// "%5B%3A%3A1%5D:80" → "[::1]:80"; other bytes (and malformed escapes) unchanged.
std::string percentDecode(std::string_view text);
// The percent-decoded value of parameter `name` in a query string ("a=1&b=2"); nullopt
// when absent. '+' is kept as it is (cache keys may contain it).
std::optional<std::string> queryParam(std::string_view query, std::string_view name);

}  // namespace sg::admin
