#include "metrics/totals.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <utility>

namespace sg::metrics {
namespace {

constexpr std::string_view kMagic = "SGMT1";

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void putText(std::string& out, const std::string& text) {
  put(out, static_cast<uint32_t>(text.size()));
  out += text;
}

// Reads what put() wrote; any read past the end fails the whole decode.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  bool get(T* value) {
    if (bytes_.size() - at_ < sizeof(T)) return false;
    std::memcpy(value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }
  bool getText(std::string* text) {
    uint32_t size = 0;
    if (!get(&size) || bytes_.size() - at_ < size) return false;
    text->assign(bytes_.substr(at_, size));
    at_ += size;
    return true;
  }
  template <typename T>
  bool getList(std::vector<T>* list) {
    uint32_t count = 0;
    if (!get(&count) || (bytes_.size() - at_) / sizeof(T) < count) return false;
    list->resize(count);
    for (T& item : *list) get(&item);
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

bool readSeries(Reader& reader, SeriesTotal* total) {
  uint8_t histogram = 0;
  if (!reader.get(&histogram) || histogram > 1 || !reader.getText(&total->name) ||
      !reader.getText(&total->labels)) {
    return false;
  }
  total->histogram = histogram == 1;
  if (!total->histogram) return reader.get(&total->value);
  return reader.getList(&total->bounds) && reader.getList(&total->buckets) &&
         total->buckets.size() == total->bounds.size() + 1 && reader.get(&total->sum_micros);
}

// `now` less `earlier` for one series; false when it cannot be (bounds changed, went down).
bool subtractOne(SeriesTotal* now, const SeriesTotal& earlier) {
  if (now->histogram != earlier.histogram) return false;
  if (!now->histogram) {
    now->value -= earlier.value;
    return now->value >= 0;
  }
  if (now->bounds != earlier.bounds || now->sum_micros < earlier.sum_micros) return false;
  for (size_t i = 0; i < now->buckets.size(); ++i) {
    if (now->buckets[i] < earlier.buckets[i]) return false;
    now->buckets[i] -= earlier.buckets[i];
  }
  now->sum_micros -= earlier.sum_micros;
  return true;
}

}  // namespace

std::string encodeTotals(const std::vector<SeriesTotal>& totals) {
  std::string out(kMagic);
  put(out, static_cast<uint32_t>(totals.size()));
  for (const SeriesTotal& total : totals) {
    put(out, static_cast<uint8_t>(total.histogram ? 1 : 0));
    putText(out, total.name);
    putText(out, total.labels);
    if (!total.histogram) {
      put(out, total.value);
      continue;
    }
    put(out, static_cast<uint32_t>(total.bounds.size()));
    for (double bound : total.bounds) put(out, bound);
    put(out, static_cast<uint32_t>(total.buckets.size()));
    for (uint64_t bucket : total.buckets) put(out, bucket);
    put(out, total.sum_micros);
  }
  return out;
}

bool decodeTotals(std::string_view bytes, std::vector<SeriesTotal>* totals, std::string* error) {
  totals->clear();
  if (bytes.substr(0, kMagic.size()) != kMagic) return *error = "not metric totals", false;
  Reader reader(bytes.substr(kMagic.size()));
  uint32_t count = 0;
  bool valid = reader.get(&count);
  for (uint32_t i = 0; valid && i < count; ++i) {
    SeriesTotal total;
    valid = readSeries(reader, &total);
    if (valid) totals->push_back(std::move(total));
  }
  if (valid && reader.done()) return true;
  totals->clear();
  *error = "metric totals cut short or garbled";
  return false;
}

std::vector<SeriesTotal> subtractTotals(const std::vector<SeriesTotal>& now,
                                        const std::vector<SeriesTotal>& earlier) {
  std::map<std::pair<std::string_view, std::string_view>, const SeriesTotal*> before;
  for (const SeriesTotal& total : earlier) before[{total.name, total.labels}] = &total;
  std::vector<SeriesTotal> out;
  for (const SeriesTotal& total : now) {
    SeriesTotal delta = total;
    auto found = before.find({total.name, total.labels});
    if (found != before.end() && !subtractOne(&delta, *found->second)) continue;
    out.push_back(std::move(delta));
  }
  return out;
}

}  // namespace sg::metrics
