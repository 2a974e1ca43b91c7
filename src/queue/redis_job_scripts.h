#pragma once
// The Lua scripts of the Redis job store: each change of a job is one script, atomic on Redis.
// KEYS[1] is the queue's key prefix (sg:q:{name}:), whose hash tag puts every key of the
// queue on one cluster node. Scripts take the states an event applies to and the state it
// leads to as arguments (from job.h's one transition table), never their own copy of it.
#include "queue/redis_link.h"

namespace sg::queue {

struct RedisScripts {
  LuaScript enqueue;
  LuaScript claim;
  LuaScript settle;
  LuaScript stalled;
  LuaScript expire;
  LuaScript purge;
  LuaScript cancel;
  LuaScript dead;  // replay or discard dead jobs
  LuaScript counts;
  LuaScript group;  // a fan-out group's rows
  std::vector<const LuaScript*> all() const;
};

const RedisScripts& redisScripts();

// The fields of a job's hash, in the order claim and get return them (after the row number).
// New fields go at the end, so existing positions stay.
inline constexpr const char* kJobFields[] = {"s",  "st", "a", "c",  "u", "n",  "r",  "m",
                                             "t",  "h",  "b", "k",  "e", "rs", "rh", "rb",
                                             "ro", "rz", "d", "up", "g", "gm"};
inline constexpr size_t kJobFieldCount = sizeof(kJobFields) / sizeof(kJobFields[0]);

}  // namespace sg::queue
