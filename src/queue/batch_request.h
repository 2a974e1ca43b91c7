#pragma once
// Several jobs delivered as one request (a queue's `batch`): the body format and the head.
#include <span>
#include <string>
#include <string_view>

#include "queue/job.h"

namespace sg::queue {

struct BatchItem {
  std::string_view id;
  const StoredRequest* request;
};

// True for application/json and any type/subtype+json, parameters allowed (case-insensitive).
bool isJsonMediaType(std::string_view content_type);

// The request one batch sends: the items' method and target (the caller groups items by both),
// the header fields every item carries with the same value (framing, hop-by-hop and
// X-Scalegate-* fields dropped as in deliveryRequest), X-Scalegate-Batch-Size, X-Scalegate-Job-Ids
// (ids in body order, ", "-separated) and X-Scalegate-Attempt: 1 (only first attempts are
// batched). The body:
//   - every item labelled JSON (isJsonMediaType) with a body that parses as JSON:
//     Content-Type: application/json, "[" + the bodies byte for byte joined by "," + "]";
//   - otherwise Content-Type: multipart/mixed (RFC 2046) with one part per item, in order, each
//     with X-Scalegate-Job-Id and the item's Content-Type (when it had one). The boundary is
//     made from the first id (128 random bits) and lengthened until no body contains it.
// `items` must not be empty.
std::string batchDeliveryRequest(std::span<const BatchItem> items);

}  // namespace sg::queue
