#pragma once
// The JSON the admin and status endpoints give for jobs (Boost.JSON objects; the caller
// serializes). Every string is valid UTF-8: stored bytes that are not get U+FFFD in their place
// (a body that is not valid UTF-8 is sent as base64 instead).
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "queue/job.h"

namespace sg::queue {

// GET /jobs/{id}: {"id","queue","state" (jobStateName),"attempts","created_at","updated_at",
//  "started_at" (null until the first claim),"next_attempt_at" (only when state retrying),
//  "last_error" (null when empty),"dead_reason" (only when dead),"upstream" (a fan-out member)}.
//  Times as RFC 3339 UTC with milliseconds: "2026-12-02T21:30:00.123Z". Never the request body or
//  headers.
boost::json::object jobStatusJson(const Job& job);

// A fan-out group's state from its members': succeeded when all succeeded; once all ended,
// dead if any is dead, else failed; otherwise running if any runs (or some ended), retrying
// if any waits for a retry, else queued.
JobState fanOutState(const std::vector<Job>& members);
// GET /jobs/{head} of a fan-out: the head's status with the group's state, the members'
// attempts summed and "fanout": [{"upstream","id","state","attempts","last_error"}].
boost::json::object fanOutStatusJson(const Job& head, const std::vector<Job>& members);
// GET /jobs/{head}/result of a fan-out: {"fanout": [{"upstream","id","state","result"}]},
// result as jobResultJson or null.
boost::json::object fanOutResultJson(const std::vector<Job>& members);

// GET /jobs/{id}/result: {"status", "headers": [[name, value], ...], "body": text,
//  "body_encoding": "utf-8" | "base64" (base64 when the bytes are not valid UTF-8),
//  "body_omitted": bool, "body_size": n}. Header names and values that are not valid UTF-8
//  get U+FFFD for each invalid byte sequence.
boost::json::object jobResultJson(const JobResult& result);

// GET /admin/queues/{name}/dead: {"queue": name, "jobs": [status json + "method","target"]}.
boost::json::object deadListJson(std::string_view queue, const std::vector<Job>& jobs);

// Helpers, public for tests and other endpoints.
// Milliseconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC).
std::string formatRfc3339Ms(int64_t epoch_ms);
// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view bytes);
// `bytes` with every maximal invalid subsequence replaced by U+FFFD.
std::string sanitizeUtf8(std::string_view bytes);
// Standard base64 (RFC 4648 section 4) with padding.
std::string base64Encode(std::string_view bytes);

}  // namespace sg::queue
