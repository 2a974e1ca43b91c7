#pragma once
// The response cache through the admin API:
//   GET    /admin/cache               {"entries", "bytes", "capacity", ...}
//   DELETE /admin/cache?key=K         purges every variant stored under primary key K
//   DELETE /admin/cache?prefix=P      purges every primary key that starts with P
// Keys are "<host><path>[?<query>]" as cache_key.h builds them, percent-encoded in the
// query string (e.g. key=api.example.com%2Fusers%3Fpage%3D2). The host part of K and P may
// be given in any case and with a port: it is normalised as keys hold it ("API.example.com:80/x"
// purges "api.example.com/x").
//   POST   /admin/cache/warm          starts every route's `warm` again, answers 202
//                                     {"routes", "urls"} at once (404: no route has warm,
//                                     409: a warm is running)
#include <optional>

#include "admin/http_service.h"
#include "proxy/shared_state.h"

namespace sg::admin {

// nullopt when the path is not /admin/cache.
std::optional<ServiceResponse> handleCacheAdmin(proxy::SharedState& shared,
                                                const http::RequestHead& request);

}  // namespace sg::admin
