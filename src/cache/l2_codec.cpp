#include "cache/l2_codec.h"

#include <limits>
#include <utility>

namespace sg::cache {
namespace {

// Smallest encodings of a list element, to reject a count the remaining bytes cannot hold
// before reserving room for it.
constexpr size_t kMinVaryField = 4 + 1;  // empty name, has_value byte
constexpr size_t kMinHeader = 4 + 4;     // empty name, empty value

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  // Byte by byte: the format is little-endian whatever the host's order is.
  void uint(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
  void u8(uint8_t value) { uint(value, 1); }
  void u16(uint16_t value) { uint(value, 2); }
  void u32(uint32_t value) { uint(value, 4); }
  void u64(uint64_t value) { uint(value, 8); }
  void i64(int64_t value) { uint(static_cast<uint64_t>(value), 8); }
  void boolean(bool value) { u8(value ? 1 : 0); }
  void str(std::string_view text) {
    u32(static_cast<uint32_t>(text.size()));  // encodeL2Entry checked it fits
    out_.append(text);
  }

 private:
  std::string& out_;
};

// Reads from `bytes`, never past its end: every read checks what is left first, and the
// first failure sticks (later reads return zeros), so decode checks once per step.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool ok() const { return error_ == nullptr; }
  const char* error() const { return error_; }
  size_t left() const { return bytes_.size() - pos_; }
  void fail(const char* reason) {
    if (!error_) error_ = reason;
  }

  uint64_t uint(int bytes) {
    if (!ok()) return 0;
    if (left() < static_cast<size_t>(bytes)) {
      fail("truncated");
      return 0;
    }
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) {
      value |= uint64_t{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    }
    pos_ += bytes;
    return value;
  }
  uint8_t u8() { return static_cast<uint8_t>(uint(1)); }
  uint16_t u16() { return static_cast<uint16_t>(uint(2)); }
  uint32_t u32() { return static_cast<uint32_t>(uint(4)); }
  uint64_t u64() { return uint(8); }
  int64_t i64() { return static_cast<int64_t>(uint(8)); }
  bool boolean() {
    const uint8_t value = u8();
    if (value > 1) fail("bad bool byte");
    return value == 1;
  }
  // The length is checked against the bytes left before anything is allocated, so a bogus
  // length cannot make decode reserve gigabytes.
  std::string_view str() {
    const uint32_t size = u32();
    if (!ok()) return {};
    if (size > left()) {
      fail("length past the end");
      return {};
    }
    const std::string_view text = bytes_.substr(pos_, size);
    pos_ += size;
    return text;
  }
  // A list's element count, checked the same way against the smallest element.
  uint32_t count(size_t min_element) {
    const uint32_t n = u32();
    if (ok() && n > left() / min_element) {
      fail("count past the end");
      return 0;
    }
    return n;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  const char* error_ = nullptr;
};

bool fitsU32(std::string_view text) { return text.size() <= std::numeric_limits<uint32_t>::max(); }

bool encodable(const CachedResponse& entry) {
  if (entry.status < 100 || entry.status > 999) return false;
  if (entry.vary.size() > std::numeric_limits<uint32_t>::max() ||
      entry.headers.size() > std::numeric_limits<uint32_t>::max()) {
    return false;
  }
  if (!fitsU32(entry.key) || !fitsU32(entry.etag) || !fitsU32(entry.last_modified) ||
      !fitsU32(entry.bodyBytes())) {
    return false;
  }
  for (const VaryField& field : entry.vary) {
    if (!fitsU32(field.name) || (field.value && !fitsU32(*field.value))) return false;
  }
  for (const StoredHeader& header : entry.headers) {
    if (!fitsU32(header.name) || !fitsU32(header.value)) return false;
  }
  return true;
}

size_t encodedSize(const CachedResponse& entry) {
  size_t size = 1 + 4 + entry.key.size() + 4 + 2 + 4 + 6 * 8 + 2 + 4 + entry.etag.size() + 4 +
                entry.last_modified.size() + 2 * 8 + 4 + entry.bodyBytes().size();
  for (const VaryField& field : entry.vary) {
    size += kMinVaryField + field.name.size() + (field.value ? 4 + field.value->size() : 0);
  }
  for (const StoredHeader& header : entry.headers) {
    size += kMinHeader + header.name.size() + header.value.size();
  }
  return size;
}

// A stored 206 holds bytes [partial_first, partial_first + body size) of a representation
// of complete_length bytes (partial.h); anything else carries no partial fields. Checked so
// that range arithmetic on a decoded entry (ranges.cpp, cache_phase.cpp) cannot underflow.
bool partialFieldsConsistent(const CachedResponse& entry) {
  if (!entry.partial()) return entry.partial_first == 0 && entry.complete_length == 0;
  return entry.partial_first < entry.complete_length &&
         entry.bodyBytes().size() <= entry.complete_length - entry.partial_first;
}

}  // namespace

std::string encodeL2Entry(const CachedResponse& entry) {
  if (!encodable(entry)) return {};
  std::string out;
  out.reserve(encodedSize(entry));
  Writer w(out);
  w.u8(kL2FormatVersion);
  w.str(entry.key);
  w.u32(static_cast<uint32_t>(entry.vary.size()));
  for (const VaryField& field : entry.vary) {
    w.str(field.name);
    w.boolean(field.value.has_value());
    if (field.value) w.str(*field.value);
  }
  w.u16(static_cast<uint16_t>(entry.status));
  w.u32(static_cast<uint32_t>(entry.headers.size()));
  for (const StoredHeader& header : entry.headers) {
    w.str(header.name);
    w.str(header.value);
  }
  w.i64(entry.request_time.time_since_epoch().count());
  w.i64(entry.response_time.time_since_epoch().count());
  w.i64(entry.corrected_initial_age.count());
  w.i64(entry.lifetime.count());
  w.i64(entry.stale_while_revalidate.count());
  w.i64(entry.stale_if_error.count());
  w.boolean(entry.no_cache);
  w.boolean(entry.never_stale);
  w.str(entry.etag);
  w.str(entry.last_modified);
  w.u64(entry.partial_first);
  w.u64(entry.complete_length);
  w.str(entry.bodyBytes());
  return out;
}

std::shared_ptr<const CachedResponse> decodeL2Entry(std::string_view bytes, uint32_t owner,
                                                    std::string* error) {
  auto reject = [&](const std::string& reason) -> std::shared_ptr<const CachedResponse> {
    if (error) *error = reason;
    return nullptr;
  };
  Reader r(bytes);
  const uint8_t version = r.u8();
  if (!r.ok()) return reject(r.error());
  if (version != kL2FormatVersion) return reject("unsupported version " + std::to_string(version));

  auto entry = std::make_shared<CachedResponse>();
  entry->key = r.str();
  const uint32_t vary_count = r.count(kMinVaryField);
  entry->vary.reserve(vary_count);
  for (uint32_t i = 0; i < vary_count && r.ok(); ++i) {
    VaryField field;
    field.name = r.str();
    if (r.boolean()) field.value = std::string(r.str());
    // Lookups and l2VariantField rely on the order variantNames gives (sorted, unique).
    if (r.ok() && !entry->vary.empty() && !(entry->vary.back().name < field.name)) {
      r.fail("vary names not sorted");
    }
    entry->vary.push_back(std::move(field));
  }
  entry->status = r.u16();
  if (r.ok() && (entry->status < 100 || entry->status > 999)) r.fail("status out of range");
  const uint32_t header_count = r.count(kMinHeader);
  entry->headers.reserve(header_count);
  for (uint32_t i = 0; i < header_count && r.ok(); ++i) {
    StoredHeader header;
    header.name = r.str();
    header.value = r.str();
    entry->headers.push_back(std::move(header));
  }
  entry->request_time = Time{Duration{r.i64()}};
  entry->response_time = Time{Duration{r.i64()}};
  entry->corrected_initial_age = Duration{r.i64()};
  entry->lifetime = Duration{r.i64()};
  entry->stale_while_revalidate = Duration{r.i64()};
  entry->stale_if_error = Duration{r.i64()};
  entry->no_cache = r.boolean();
  entry->never_stale = r.boolean();
  entry->etag = r.str();
  entry->last_modified = r.str();
  entry->partial_first = r.u64();
  entry->complete_length = r.u64();
  const std::string_view body = r.str();
  if (!r.ok()) return reject(r.error());
  if (r.left() != 0) return reject("trailing bytes");
  entry->body = std::make_shared<const std::string>(body);
  if (!partialFieldsConsistent(*entry)) return reject("partial fields inconsistent");

  renderWireHeaders(*entry);
  entry->owner = owner;
  entry->charge = estimateCharge(*entry);  // last: it counts wire_headers' bytes too
  return entry;
}

std::string l2VariantField(const std::vector<VaryField>& vary) {
  // "<len>:<name>=<len>:<value>;" per field, "<len>:<name>!;" when the request lacked it.
  std::string out;
  for (const VaryField& field : vary) {
    out.append(std::to_string(field.name.size())).append(":").append(field.name);
    if (field.value) {
      out.append("=").append(std::to_string(field.value->size())).append(":");
      out.append(*field.value);
    } else {
      out.append("!");
    }
    out.append(";");
  }
  return out;
}

std::string l2VaryNames(const std::vector<VaryField>& vary) {
  std::string out;
  for (size_t i = 0; i < vary.size(); ++i) {
    if (i > 0) out.push_back(',');
    for (char c : vary[i].name) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
  return out;
}

}  // namespace sg::cache
