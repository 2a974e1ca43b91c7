// A database's read/write splitting: its replicas, how reads are spread over them, when a
// lagging replica is banned, and how a client reads its own writes.
#include <string_view>

#include "config/load.h"

namespace sg::config::detail {

namespace {

using Routing = PostgresRoutingConfig;

// One of an enumeration's names; reports the choices otherwise.
template <typename Enum>
void readChoice(ErrorSink& errors, const Field* field, bool (*parse)(std::string_view, Enum*),
                std::string_view choices, Enum* out) {
  std::string text;
  if (!readString(errors, field, &text) || parse(text, out)) return;
  errors.add(field->mark(), field->path,
             "unknown value " + quoted(text) + " (one of: " + std::string(choices) + ")");
}

void readPrimaryDiscovery(ErrorSink& errors, const Field* field, bool* out) {
  std::string text;
  if (!readString(errors, field, &text)) return;
  if (text == "pg_is_in_recovery" || text == "off") {
    *out = text != "off";
    return;
  }
  errors.add(field->mark(), field->path,
             "unknown value " + quoted(text) + " (one of: pg_is_in_recovery, off)");
}

}  // namespace

void readReplicas(ErrorSink& errors, const Field* field, std::vector<net::Address>* out) {
  if (field == nullptr) return;
  for (const Field& item : sequenceItems(errors, *field)) {
    net::Address address;
    if (!readAddress(errors, &item, &address)) continue;
    for (const auto& earlier : *out) {
      if (earlier.toString() == address.toString()) {
        errors.add(item.mark(), item.path, "duplicate replica " + address.toString());
        break;
      }
    }
    out->push_back(address);
  }
}

void loadPostgresRouting(ErrorSink& errors, const MapReader& map, bool sharded, Routing* out) {
  const Field* replicas = sharded ? nullptr : map.find("replicas");
  readReplicas(errors, replicas, &out->replicas);
  out->read_write_split = !out->replicas.empty();
  const Field* split = map.find("read_write_split");
  readBool(errors, split, &out->read_write_split);
  if (split != nullptr && out->read_write_split && replicas == nullptr && !sharded)
    errors.add(split->mark(), split->path, "needs replicas to send reads to");
  readChoice(errors, map.find("replica_balance"), parseBalance,
             "least_request, round_robin, random", &out->replica_balance);
  readChoice(errors, map.find("primary_reads"), parsePrimaryReads, "fallback, include, exclude",
             &out->primary_reads);
  readDuration(errors, map.find("max_lag"), &out->max_lag);
  readSize(errors, map.find("max_lag_bytes"), 0, uint64_t{1} << 50, &out->max_lag_bytes);
  readChoice(errors, map.find("read_your_writes"), parseReadYourWrites, "lsn, window, off",
             &out->read_your_writes);
  readDuration(errors, map.find("read_your_writes_window"), &out->read_your_writes_window, false);
  readPrimaryDiscovery(errors, map.find("primary_discovery"), &out->primary_discovery);
}

void loadPostgresHealthCheck(ErrorSink& errors, const Field& field, PostgresConfig* out) {
  MapReader map(errors, field, {"rise", "fall"});
  if (!map.valid()) return;
  constexpr uint32_t kMaxCount = 100;
  readUint32(errors, map.find("rise"), 1, kMaxCount, &out->health_check_rise);
  readUint32(errors, map.find("fall"), 1, kMaxCount, &out->health_check_fall);
}

}  // namespace sg::config::detail
