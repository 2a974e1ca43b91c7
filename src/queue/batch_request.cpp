#include "queue/batch_request.h"

#include <algorithm>
#include <boost/json/parse.hpp>

#include "queue/delivery_request.h"
#include "queue/text.h"

namespace sg::queue {

namespace {

using detail::equalsIgnoreCase;
using detail::trimOws;

const std::string* contentTypeOf(const StoredRequest& request) {
  for (const HeaderLine& line : request.headers) {
    if (equalsIgnoreCase(line.name, "content-type")) return &line.value;
  }
  return nullptr;
}

bool isJson(const StoredRequest& request) {
  const std::string* type = contentTypeOf(request);
  if (type == nullptr || !isJsonMediaType(*type)) return false;
  boost::system::error_code ec;
  (void)boost::json::parse(request.body, ec);
  return !ec;
}

bool hasLine(const StoredRequest& request, const HeaderLine& wanted) {
  return std::any_of(request.headers.begin(), request.headers.end(), [&](const HeaderLine& line) {
    return line.value == wanted.value && equalsIgnoreCase(line.name, wanted.name);
  });
}

// The first item's header lines that every other item has too (same name, same value).
std::vector<HeaderLine> sharedHeaders(std::span<const BatchItem> items) {
  std::vector<HeaderLine> shared;
  for (const HeaderLine& line : items.front().request->headers) {
    if (equalsIgnoreCase(line.name, "content-type")) continue;  // the batch has its own
    bool everywhere = std::all_of(items.begin() + 1, items.end(), [&](const BatchItem& item) {
      return hasLine(*item.request, line);
    });
    if (everywhere) shared.push_back(line);
  }
  return shared;
}

std::string jsonArray(std::span<const BatchItem> items) {
  std::string body = "[";
  for (const BatchItem& item : items) {
    if (body.size() > 1) body += ',';
    body += item.request->body;
  }
  body += ']';
  return body;
}

std::string boundaryFor(std::span<const BatchItem> items) {
  std::string boundary = "scalegate-batch-" + std::string(items.front().id);
  auto inSomeBody = [&] {
    return std::any_of(items.begin(), items.end(), [&](const BatchItem& item) {
      return item.request->body.find(boundary) != std::string::npos;
    });
  };
  while (inSomeBody()) boundary += '-';
  return boundary;
}

bool safeValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string multipart(std::span<const BatchItem> items, const std::string& boundary) {
  std::string body;
  for (const BatchItem& item : items) {
    body.append("--").append(boundary).append("\r\n");
    body.append("X-Scalegate-Job-Id: ").append(item.id).append("\r\n");
    const std::string* type = contentTypeOf(*item.request);
    if (type != nullptr && safeValue(*type))
      body.append("Content-Type: ").append(*type).append("\r\n");
    body.append("\r\n").append(item.request->body).append("\r\n");
  }
  body.append("--").append(boundary).append("--\r\n");
  return body;
}

}  // namespace

bool isJsonMediaType(std::string_view content_type) {
  std::string_view type = trimOws(content_type.substr(0, content_type.find(';')));
  if (equalsIgnoreCase(type, "application/json")) return true;
  size_t slash = type.find('/');
  return slash != std::string_view::npos && slash > 0 && type.size() > slash + 6 &&
         equalsIgnoreCase(type.substr(type.size() - 5), "+json");
}

std::string batchDeliveryRequest(std::span<const BatchItem> items) {
  StoredRequest batch;
  batch.method = items.front().request->method;
  batch.target = items.front().request->target;
  batch.headers = sharedHeaders(items);
  if (std::all_of(items.begin(), items.end(),
                  [](const BatchItem& item) { return isJson(*item.request); })) {
    batch.headers.push_back({"Content-Type", "application/json"});
    batch.body = jsonArray(items);
  } else {
    std::string boundary = boundaryFor(items);
    batch.headers.push_back({"Content-Type", "multipart/mixed; boundary=" + boundary});
    batch.body = multipart(items, boundary);
  }
  std::string fields = "X-Scalegate-Batch-Size: " + std::to_string(items.size()) + "\r\n";
  fields += "X-Scalegate-Job-Ids: ";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) fields += ", ";
    fields += items[i].id;
  }
  fields += "\r\nX-Scalegate-Attempt: 1\r\n";
  return requestWithFields(batch, fields);
}

}  // namespace sg::queue
