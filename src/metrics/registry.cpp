#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "metrics/metrics.h"
#include "metrics/text_format.h"

namespace sg::metrics {
namespace {

enum class Kind { kCounter, kGauge, kHistogram };

const char* kindName(Kind kind) {
  switch (kind) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// One label set of a family. Exactly one of the value holders is set.
struct Series {
  std::string label_text;  // `a="x",b="y"`, escaped, in registration order
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read;  // callback gauge or counter
  std::string key;               // the canonical label set (labelKey)
  double carried = 0;            // callback counter: what a predecessor process counted
};

struct Family {
  std::string name;
  std::string help;
  Kind kind;
  std::vector<std::unique_ptr<Series>> series;            // registration order
  std::unordered_map<std::string, Series*> by_label_key;  // canonical labels -> series
};

// Order-insensitive identity of a label set (length-prefixed, so any bytes are safe).
std::string labelKey(const Labels& labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const auto& [name, value] : sorted) {
    key += std::to_string(name.size()) + ':' + name + std::to_string(value.size()) + ':' + value;
  }
  return key;
}

std::string labelText(const std::string& metric, const Labels& labels, Kind kind) {
  std::string text;
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : labels) {
    if (!text::isValidLabelName(name) || (kind == Kind::kHistogram && name == "le") ||
        std::find(seen.begin(), seen.end(), name) != seen.end()) {
      throw std::logic_error("metric " + metric + ": invalid or duplicate label name '" + name +
                             "'");
    }
    seen.push_back(name);
    if (!text.empty()) text += ',';
    text += name;
    text += "=\"";
    text::appendEscapedLabelValue(text, value);
    text += '"';
  }
  return text;
}

// `name{labels}` or `name{labels,extra}`; no braces when both are empty.
void appendSeriesName(std::string& out, std::string_view name, std::string_view suffix,
                      const std::string& labels, std::string_view extra = {}) {
  out += name;
  out += suffix;
  if (labels.empty() && extra.empty()) return;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
}

void renderHistogram(std::string& out, const Family& family, const Series& series) {
  const Histogram::Snapshot snap = series.histogram->snapshot();
  const std::vector<double>& bounds = series.histogram->bounds();
  std::string le;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    le = "le=\"";
    if (i < bounds.size()) {
      text::appendDouble(le, bounds[i]);
    } else {
      le += "+Inf";
    }
    le += '"';
    appendSeriesName(out, family.name, "_bucket", series.label_text, le);
    out += ' ';
    text::appendUnsigned(out, snap.cumulative[i]);
    out += '\n';
  }
  appendSeriesName(out, family.name, "_sum", series.label_text);
  out += ' ';
  text::appendDouble(out, snap.sum_seconds);
  out += '\n';
  appendSeriesName(out, family.name, "_count", series.label_text);
  out += ' ';
  text::appendUnsigned(out, snap.count);
  out += '\n';
}

void renderSeries(std::string& out, const Family& family, const Series& series) {
  if (series.histogram) {
    renderHistogram(out, family, series);
    return;
  }
  appendSeriesName(out, family.name, "", series.label_text);
  out += ' ';
  if (series.counter) {
    text::appendUnsigned(out, series.counter->value());
  } else if (series.gauge) {
    text::appendSigned(out, series.gauge->value());
  } else {
    text::appendDouble(out, series.read() + series.carried);
  }
  out += '\n';
}

}  // namespace

struct Registry::Impl {
  mutable std::mutex mutex;
  uint32_t shards = 1;
  std::vector<std::unique_ptr<Family>> families;  // registration order
  std::unordered_map<std::string, Family*> by_name;

  // The family for `name`, created on first use. Throws std::logic_error when the name is
  // invalid or already registered with another type (a start-up programming error).
  Family& family(const std::string& name, const std::string& help, Kind kind) {
    if (auto it = by_name.find(name); it != by_name.end()) {
      if (it->second->kind != kind) {
        throw std::logic_error("metric " + name + " registered as " + kindName(it->second->kind) +
                               " and as " + kindName(kind));
      }
      return *it->second;
    }
    if (!text::isValidMetricName(name)) throw std::logic_error("invalid metric name: " + name);
    families.push_back(std::make_unique<Family>(Family{name, help, kind, {}, {}}));
    by_name.emplace(name, families.back().get());
    return *families.back();
  }

  // Adds a predecessor's `total` to its series here; false when there is no such series
  // (or it is of another kind, or a histogram with other bounds).
  bool add(const SeriesTotal& total) {
    auto named = by_name.find(total.name);
    if (named == by_name.end() || named->second->kind == Kind::kGauge) return false;
    auto found = named->second->by_label_key.find(total.labels);
    if (found == named->second->by_label_key.end()) return false;
    Series& series = *found->second;
    if (series.histogram) {
      if (!total.histogram || total.bounds != series.histogram->bounds()) return false;
      series.histogram->addCounts(total.buckets, total.sum_micros);
    } else if (total.histogram || total.value < 0) {
      return false;
    } else if (series.counter) {
      series.counter->addShared(static_cast<uint64_t>(total.value));
    } else {
      series.carried += total.value;
    }
    return true;
  }

  // The series for `labels` in `family`; `created` tells whether it is new (and empty).
  Series& series(Family& family, const Labels& labels, bool& created) {
    std::string key = labelKey(labels);
    if (auto it = family.by_label_key.find(key); it != family.by_label_key.end()) {
      created = false;
      return *it->second;
    }
    auto series = std::make_unique<Series>();
    series->label_text = labelText(family.name, labels, family.kind);
    series->key = key;
    family.series.push_back(std::move(series));
    family.by_label_key.emplace(std::move(key), family.series.back().get());
    created = true;
    return *family.series.back();
  }
};

Registry::Registry(uint32_t shards)
    : impl_(std::make_shared<Impl>()), shards_(shards == 0 ? 1 : shards) {
  impl_->shards = shards_;
  detail::setShardCount(shards_);
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  bool created = false;
  Series& series = impl_->series(impl_->family(name, help, Kind::kCounter), labels, created);
  if (created) series.counter = std::make_unique<Counter>(shards_);
  if (!series.counter)
    throw std::logic_error("metric " + name + ": labels already used by a callback counter");
  return *series.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(impl_->mutex);
  bool created = false;
  Series& series = impl_->series(impl_->family(name, help, Kind::kGauge), labels, created);
  if (created) series.gauge = std::make_unique<Gauge>(shards_);
  if (!series.gauge)
    throw std::logic_error("metric " + name + ": labels already used by a callback gauge");
  return *series.gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Labels& labels, std::vector<double> bounds_seconds) {
  std::lock_guard lock(impl_->mutex);
  bool created = false;
  Series& series = impl_->series(impl_->family(name, help, Kind::kHistogram), labels, created);
  if (created) {
    series.histogram = std::make_unique<Histogram>(std::move(bounds_seconds), shards_);
  } else if (Histogram probe(std::move(bounds_seconds), 1);
             probe.bounds() != series.histogram->bounds()) {
    throw std::logic_error("metric " + name + ": registered again with other bounds");
  }
  return *series.histogram;
}

void Registry::gaugeCallback(const std::string& name, const std::string& help, const Labels& labels,
                             std::function<double()> read) {
  addCallback(name, help, labels, std::move(read), true);
}

void Registry::stateSetCallback(const std::string& name, const std::string& help,
                                const Labels& labels, const std::string& state_label,
                                const std::vector<std::string>& states,
                                std::function<size_t()> read) {
  if (!read || states.empty()) throw std::logic_error("metric " + name + ": empty state set");
  // Series render in registration order under the registry's mutex: the first state's
  // sample reads the component and the others reuse that reading.
  struct Reading {
    std::function<size_t()> read;
    size_t current = 0;
  };
  auto reading = std::make_shared<Reading>(Reading{std::move(read)});
  for (size_t i = 0; i < states.size(); ++i) {
    Labels with = labels;
    with.emplace_back(state_label, states[i]);
    addCallback(
        name, help, with,
        [reading, i] {
          if (i == 0) reading->current = reading->read();
          return reading->current == i ? 1.0 : 0.0;
        },
        true);
  }
}

void Registry::counterCallback(const std::string& name, const std::string& help,
                               const Labels& labels, std::function<double()> read) {
  addCallback(name, help, labels, std::move(read), false);
}

void Registry::addCallback(const std::string& name, const std::string& help, const Labels& labels,
                           std::function<double()> read, bool gauge) {
  if (!read) throw std::logic_error("metric " + name + ": empty callback");
  std::lock_guard lock(impl_->mutex);
  bool created = false;
  Series& series = impl_->series(impl_->family(name, help, gauge ? Kind::kGauge : Kind::kCounter),
                                 labels, created);
  if (!created && (series.gauge || series.counter)) {
    throw std::logic_error("metric " + name + ": labels already used by a plain metric");
  }
  series.read = std::move(read);  // registering the same labels again replaces the callback
}

std::vector<SeriesTotal> Registry::totals() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<SeriesTotal> out;
  for (const auto& family : impl_->families) {
    if (family->kind == Kind::kGauge) continue;
    for (const auto& series : family->series) {
      SeriesTotal total{family->name, series->key};
      if (series->histogram) {
        Histogram::Snapshot snap = series->histogram->snapshot();
        total.histogram = true;
        total.bounds = series->histogram->bounds();
        for (size_t i = 0; i < snap.cumulative.size(); ++i)
          total.buckets.push_back(snap.cumulative[i] - (i == 0 ? 0 : snap.cumulative[i - 1]));
        total.sum_micros = snap.sum_micros;
      } else {
        total.value = series->counter ? static_cast<double>(series->counter->value())
                                      : series->read() + series->carried;
      }
      out.push_back(std::move(total));
    }
  }
  return out;
}

std::vector<SeriesTotal> Registry::addTotals(std::vector<SeriesTotal> totals) {
  std::lock_guard lock(impl_->mutex);
  std::vector<SeriesTotal> left;
  for (SeriesTotal& total : totals) {
    if (!impl_->add(total)) left.push_back(std::move(total));
  }
  return left;
}

std::string Registry::renderPrometheus() const {
  std::lock_guard lock(impl_->mutex);  // callbacks run under it: they must not register
  std::string out;
  out.reserve(4096);
  for (const auto& family : impl_->families) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    text::appendEscapedHelp(out, family->help);
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += kindName(family->kind);
    out += '\n';
    for (const auto& series : family->series) renderSeries(out, *family, *series);
  }
  return out;
}

}  // namespace sg::metrics
