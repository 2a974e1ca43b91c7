// Written from the description of PostgreSQL's hashfn.c, hashfunc.c and partbounds.c; the unit
// tests hold values computed by a PostgreSQL 15 server.
#include "pg/shard/partition_hash.h"

namespace sg::pg::shard {

namespace {

uint32_t rotate(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// lookup3's mix(): reversible mixing of three words.
void mix(uint32_t& a, uint32_t& b, uint32_t& c) {
  a -= c;
  a ^= rotate(c, 4);
  c += b;
  b -= a;
  b ^= rotate(a, 6);
  a += c;
  c -= b;
  c ^= rotate(b, 8);
  b += a;
  a -= c;
  a ^= rotate(c, 16);
  c += b;
  b -= a;
  b ^= rotate(a, 19);
  a += c;
  c -= b;
  c ^= rotate(b, 4);
  b += a;
}

// lookup3's final(): the last mixing, into c (and b, for the 64-bit result).
void finalMix(uint32_t& a, uint32_t& b, uint32_t& c) {
  c ^= b;
  c -= rotate(b, 14);
  a ^= c;
  a -= rotate(c, 11);
  b ^= a;
  b -= rotate(a, 25);
  c ^= b;
  c -= rotate(b, 16);
  a ^= c;
  a -= rotate(c, 4);
  b ^= a;
  b -= rotate(a, 14);
  c ^= b;
  c -= rotate(b, 24);
}

// The initial state; a non-zero seed is mixed in as if it were a 12-byte block of data.
void seedState(uint32_t initial, uint64_t seed, uint32_t& a, uint32_t& b, uint32_t& c) {
  a = b = c = 0x9e3779b9u + initial + 3923095u;
  if (seed == 0) return;
  a += static_cast<uint32_t>(seed >> 32);
  b += static_cast<uint32_t>(seed);
  mix(a, b, c);
}

// Bytes [from, from + count) of the block as a little-endian word, shifted left by `shift` bits.
uint32_t littleEndian(const unsigned char* bytes, size_t count, int shift = 0) {
  uint32_t word = 0;
  for (size_t i = 0; i < count; ++i) word |= static_cast<uint32_t>(bytes[i]) << (8 * i);
  return word << shift;
}

}  // namespace

uint64_t hashBytesExtended(std::string_view bytes, uint64_t seed) {
  uint32_t a, b, c;
  seedState(static_cast<uint32_t>(bytes.size()), seed, a, b, c);
  const auto* k = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t len = bytes.size();
  for (; len >= 12; len -= 12, k += 12) {
    a += littleEndian(k, 4);
    b += littleEndian(k + 4, 4);
    c += littleEndian(k + 8, 4);
    mix(a, b, c);
  }
  // The last 0 to 11 bytes fill a, then b, then c from its second byte up (its lowest byte
  // stands for the length, already in the initial state).
  if (len > 8) c += littleEndian(k + 8, len - 8, 8);
  if (len > 4) b += littleEndian(k + 4, len > 8 ? 4 : len - 4);
  if (len > 0) a += littleEndian(k, len > 4 ? 4 : len);
  finalMix(a, b, c);
  return (static_cast<uint64_t>(b) << 32) | c;
}

uint64_t hashUint32Extended(uint32_t value, uint64_t seed) {
  uint32_t a, b, c;
  seedState(sizeof(uint32_t), seed, a, b, c);
  a += value;
  finalMix(a, b, c);
  return (static_cast<uint64_t>(b) << 32) | c;
}

uint64_t hashInt8Extended(int64_t value, uint64_t seed) {
  // The high half folds into the low half (complemented for negative values), so an int8
  // hashes like the int4 or int2 of the same value: cross-type hash joins rely on it.
  auto low = static_cast<uint32_t>(value);
  const auto high = static_cast<uint32_t>(static_cast<uint64_t>(value) >> 32);
  low ^= value >= 0 ? high : ~high;
  return hashUint32Extended(low, seed);
}

uint64_t hashKeyExtended(KeyType type, const KeyValue& value, uint64_t seed) {
  switch (type) {
    case KeyType::kText:
    case KeyType::kCharacter:  // hashbpcharextended: the bytes without trailing spaces
    case KeyType::kUuid:
      return hashBytesExtended(value.bytes, seed);
    case KeyType::kBoolean:
    case KeyType::kDate:
      // hashcharextended and hashint4extended: the 32-bit value itself.
      return hashUint32Extended(static_cast<uint32_t>(value.integer), seed);
    default:
      return hashInt8Extended(value.integer, seed);
  }
}

uint64_t hashCombine64(uint64_t a, uint64_t b) {
  a ^= b + 0x49a0f4dd15e5a8e3ull + (a << 54) + (a >> 7);
  return a;
}

}  // namespace sg::pg::shard
