#include "queue/batch_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::queue {
namespace {

StoredRequest json(std::string body, std::vector<HeaderLine> extra = {}) {
  StoredRequest r;
  r.method = "POST";
  r.target = "/api/events";
  r.headers = {{"Host", "shop.example"}, {"Content-Type", "application/json"}};
  r.headers.insert(r.headers.end(), extra.begin(), extra.end());
  r.body = std::move(body);
  return r;
}

StoredRequest text(std::string body) {
  StoredRequest r = json(std::move(body));
  r.headers[1].value = "text/plain; charset=utf-8";
  return r;
}

TEST(BatchRequest, JsonBodiesBecomeOneArray) {
  StoredRequest a = json("{\"n\":1}", {{"X-Tenant", "t1"}, {"X-Request-Id", "r1"}});
  StoredRequest b = json(" [1, 2] ", {{"X-Request-Id", "r2"}, {"x-tenant", "t1"}});
  std::vector<BatchItem> items = {{"id-a", &a}, {"id-b", &b}};
  EXPECT_EQ(batchDeliveryRequest(items),
            "POST /api/events HTTP/1.1\r\n"
            "Host: shop.example\r\n"
            "X-Tenant: t1\r\n"  // every item has it; X-Request-Id differs and is left out
            "Content-Type: application/json\r\n"
            "X-Scalegate-Batch-Size: 2\r\n"
            "X-Scalegate-Job-Ids: id-a, id-b\r\n"
            "X-Scalegate-Attempt: 1\r\n"
            "Content-Length: 18\r\n"
            "\r\n"
            "[{\"n\":1}, [1, 2] ]");
}

TEST(BatchRequest, OneItemIsStillAnArray) {
  StoredRequest a = json("7");
  std::vector<BatchItem> items = {{"only", &a}};
  std::string out = batchDeliveryRequest(items);
  EXPECT_NE(out.find("X-Scalegate-Batch-Size: 1\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n[7]")) << out;
}

TEST(BatchRequest, InvalidJsonOrOtherTypesMakeMultipart) {
  StoredRequest a = json("{\"ok\":true}");
  StoredRequest bad = json("{not json");
  std::vector<BatchItem> items = {{"id-a", &a}, {"id-bad", &bad}};
  std::string out = batchDeliveryRequest(items);
  const std::string boundary = "scalegate-batch-id-a";
  EXPECT_NE(out.find("Content-Type: multipart/mixed; boundary=" + boundary + "\r\n"),
            std::string::npos)
      << out;
  const std::string body =
      "--" + boundary +
      "\r\nX-Scalegate-Job-Id: id-a\r\nContent-Type: application/json\r\n\r\n"
      "{\"ok\":true}\r\n--" +
      boundary +
      "\r\nX-Scalegate-Job-Id: id-bad\r\nContent-Type: application/json\r\n\r\n"
      "{not json\r\n--" +
      boundary + "--\r\n";
  EXPECT_TRUE(out.ends_with("Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body))
      << out;
}

TEST(BatchRequest, MultipartKeepsBytesAndAvoidsABoundaryInABody) {
  StoredRequest a = text("line\r\n--scalegate-batch-id-a\r\nmore");
  StoredRequest b;
  b.method = "POST";
  b.target = "/api/events";
  b.body = std::string("bin\0ary", 7);  // no Content-Type at all
  std::vector<BatchItem> items = {{"id-a", &a}, {"id-b", &b}};
  std::string out = batchDeliveryRequest(items);
  EXPECT_NE(out.find("boundary=scalegate-batch-id-a-\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Type: text/plain; charset=utf-8\r\n\r\nline\r\n--scalegate-batch-id-a"
                     "\r\nmore\r\n--scalegate-batch-id-a-\r\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("X-Scalegate-Job-Id: id-b\r\n\r\n" + std::string("bin\0ary", 7) +
                     "\r\n--scalegate-batch-id-a---\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("Host:"), std::string::npos);  // b has no Host: not shared
}

TEST(BatchRequest, ClientSentScalegateFieldsAreDropped) {
  StoredRequest a = json("1", {{"X-Scalegate-Job-Ids", "forged"},
                               {"X-Scalegate-Batch-Size", "9"},
                               {"Connection", "close"}});
  StoredRequest b = a;
  std::vector<BatchItem> items = {{"id-a", &a}, {"id-b", &b}};
  std::string out = batchDeliveryRequest(items);
  EXPECT_EQ(out.find("forged"), std::string::npos) << out;
  EXPECT_EQ(out.find("Batch-Size: 9"), std::string::npos) << out;
  EXPECT_EQ(out.find("Connection"), std::string::npos) << out;
}

TEST(BatchRequest, JsonMediaTypes) {
  EXPECT_TRUE(isJsonMediaType("application/json"));
  EXPECT_TRUE(isJsonMediaType(" Application/JSON ; charset=utf-8"));
  EXPECT_TRUE(isJsonMediaType("application/problem+json"));
  EXPECT_TRUE(isJsonMediaType("application/vnd.api+JSON;v=2"));
  EXPECT_FALSE(isJsonMediaType("text/plain"));
  EXPECT_FALSE(isJsonMediaType("+json"));
  EXPECT_FALSE(isJsonMediaType("application/jsonx"));
  EXPECT_FALSE(isJsonMediaType(""));
}

}  // namespace
}  // namespace sg::queue
