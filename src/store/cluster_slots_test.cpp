// Key slots (CRC16 with hash tags) and MOVED / ASK parsing, against the values the Redis
// Cluster specification gives.
#include "store/cluster_slots.h"

#include <gtest/gtest.h>

namespace sg::store {
namespace {

TEST(ClusterSlots, Crc16IsXmodem) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

TEST(ClusterSlots, KeySlotsMatchRedis) {
  EXPECT_EQ(keySlot("foo"), 12182);  // CLUSTER KEYSLOT foo
  EXPECT_EQ(keySlot("bar"), 5061);
  EXPECT_LT(keySlot(std::string(1000, 'x')), kClusterSlots);
}

TEST(ClusterSlots, HashTags) {
  EXPECT_EQ(keySlot("{user1000}.following"), keySlot("user1000"));
  EXPECT_EQ(keySlot("{user1000}.followers"), keySlot("{user1000}.following"));
  EXPECT_EQ(keySlot("foo{}{bar}"), crc16("foo{}{bar}") % kClusterSlots);  // empty tag: whole key
  EXPECT_EQ(keySlot("foo{{bar}}zap"), keySlot("{bar"));                   // up to the first '}'
  EXPECT_EQ(keySlot("foo{bar}{zap}"), keySlot("bar"));
  EXPECT_EQ(keySlot("no{close"), crc16("no{close") % kClusterSlots);
}

TEST(ClusterSlots, ParsesRedirects) {
  auto moved = parseRedirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->host, "127.0.0.1");
  EXPECT_EQ(moved->port, 6381);
  auto ask = parseRedirect("ASK 12182 [::1]:7002");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->host, "::1");
  auto no_host = parseRedirect("MOVED 1 :7000");
  ASSERT_TRUE(no_host);
  EXPECT_EQ(no_host->host, "");
}

TEST(ClusterSlots, RejectsOtherErrors) {
  for (const char* text :
       {"ERR unknown command", "MOVED", "MOVED x 1.2.3.4:5", "MOVED 16384 a:1", "MOVED 1 a:0",
        "MOVED 1 a:99999", "ASK 1 nohost", "MOVED 1 a:1x", "CLUSTERDOWN The cluster is down"}) {
    EXPECT_FALSE(parseRedirect(text)) << text;
  }
}

}  // namespace
}  // namespace sg::store
