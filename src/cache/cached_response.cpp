#include "cache/cached_response.h"

#include "cache/text.h"

namespace sg::cache {
namespace {

// libstdc++ keeps up to 15 bytes inline; longer strings cost a heap block of capacity + 1
// plus the allocator's header and rounding (~16 bytes on glibc).
constexpr uint64_t kMallocOverhead = 16;
constexpr size_t kInlineString = 15;

uint64_t heapBytes(const std::string& text) {
  return text.capacity() > kInlineString ? text.capacity() + 1 + kMallocOverhead : 0;
}

// What the cache adds per entry outside the CachedResponse: the shared_ptr control block,
// the shard's resident record and policy node (~80), the hash map node, bucket and slot
// (~120), the map's own copy of the primary key (counted below), and TinyLFU's share of
// the frequency sketch and doorkeeper (sized per resident entry: 20 to 70 bytes).
constexpr uint64_t kBookkeeping = 320;

}  // namespace

std::optional<std::string_view> CachedResponse::header(std::string_view name) const {
  return detail::firstHeader(headers, name);
}

void renderWireHeaders(CachedResponse& entry) {
  size_t size = 0;
  for (const StoredHeader& header : entry.headers)
    size += header.name.size() + header.value.size() + 4;
  entry.wire_headers.clear();
  entry.wire_headers.reserve(size);
  for (const StoredHeader& header : entry.headers) {
    entry.wire_headers.append(header.name).append(": ").append(header.value).append("\r\n");
  }
}

uint64_t estimateCharge(const CachedResponse& response) {
  uint64_t bytes = sizeof(CachedResponse) + kBookkeeping + kMallocOverhead;
  bytes += heapBytes(response.key) * 2 + response.key.size();  // map keeps a copy
  bytes += response.vary.capacity() * sizeof(VaryField) + kMallocOverhead;
  for (const VaryField& field : response.vary) {
    bytes += heapBytes(field.name) + (field.value ? heapBytes(*field.value) : 0);
  }
  bytes += response.headers.capacity() * sizeof(StoredHeader) + kMallocOverhead;
  for (const StoredHeader& header : response.headers) {
    bytes += heapBytes(header.name) + heapBytes(header.value);
  }
  if (response.body) bytes += response.body->capacity() + 1 + kMallocOverhead;
  bytes += heapBytes(response.etag) + heapBytes(response.last_modified);
  bytes += heapBytes(response.wire_headers);
  return bytes;
}

}  // namespace sg::cache
