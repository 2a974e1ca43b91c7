#pragma once
// PostgreSQL's hash partitioning, computed outside the server: the extended (64-bit, seeded)
// hash functions of the key types, HASH_PARTITION_SEED, and the combination over the key
// columns, so that hash % modulus is the REMAINDER of the partition PostgreSQL puts the row in.
// The byte hash reads words little-endian, as PostgreSQL does on x86-64 and ARM64 (a server on
// a big-endian machine hashes text and uuid differently).
#include <cstdint>
#include <string_view>

#include "pg/shard/key_value.h"

namespace sg::pg::shard {

// src/include/catalog/partition.h
inline constexpr uint64_t kHashPartitionSeed = 0x7A5B22367996DCFDull;

// hash_bytes_extended (src/common/hashfn.c), Bob Jenkins' lookup3 with a 64-bit seed.
uint64_t hashBytesExtended(std::string_view bytes, uint64_t seed);
// hash_bytes_uint32_extended: the same for one 32-bit word.
uint64_t hashUint32Extended(uint32_t value, uint64_t seed);
// hashint8extended; hashint4extended and hashint2extended give the same for equal values.
uint64_t hashInt8Extended(int64_t value, uint64_t seed);
// The key type's extended hash support function (hashint8extended, hashtextextended,
// uuid_hash_extended, hashcharextended for boolean, hashint4extended for date,
// timestamp_hash_extended).
uint64_t hashKeyExtended(KeyType type, const KeyValue& value, uint64_t seed);
// hash_combine64 (src/include/common/hashfn.h).
uint64_t hashCombine64(uint64_t a, uint64_t b);

// compute_partition_hash_value for a row, one column at a time: start with kEmptyRowHash, then
// addColumn for each key column in key order (a NULL column is skipped, as PostgreSQL skips it).
inline constexpr uint64_t kEmptyRowHash = 0;
inline uint64_t addColumn(uint64_t row_hash, KeyType type, const KeyValue& value) {
  return hashCombine64(row_hash, hashKeyExtended(type, value, kHashPartitionSeed));
}

}  // namespace sg::pg::shard
