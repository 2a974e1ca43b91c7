// Micro-benchmarks of the head parsers and the chunked decoder (Google Benchmark).
//   ninja -C build parser_bench && ./build/src/http/parser_bench
#include <benchmark/benchmark.h>

#include <string>

#include "http/chunked.h"
#include "http/parser.h"

namespace {

using namespace sg::http;

const std::string kCurlGet =
    "GET /api/users/42 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n\r\n";

const std::string kBrowserGet =
    "GET /static/js/app.bundle.js?v=20240101 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Referer: https://www.example.com/dashboard\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=6f1c2a9e0b7d4e3f8a1b2c3d4e5f6a7b; theme=dark; "
    "_ga=GA1.1.123456789.1700000000\r\n"
    "X-Forwarded-For: 203.0.113.7\r\n"
    "X-Request-Id: 0b8f7c1e-2d3a-4b5c-9d6e-7f8a9b0c1d2e\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: upstream\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 1234\r\nCache-Control: no-cache\r\n"
    "Connection: keep-alive\r\n\r\n";

void parseRequestBench(benchmark::State& state, const std::string& in) {
  RequestHead head;
  ParseError error = ParseError::kNone;
  for (auto _ : state) {
    const ParseStatus st = parseRequestHead(in, {}, &head, &error);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
}

void requestCurlGet(benchmark::State& state) { parseRequestBench(state, kCurlGet); }
void requestBrowserGet(benchmark::State& state) { parseRequestBench(state, kBrowserGet); }

void requestIncompleteBrowserGet(benchmark::State& state) {
  const std::string_view partial = std::string_view(kBrowserGet).substr(0, kBrowserGet.size() - 3);
  RequestHead head;
  ParseError error = ParseError::kNone;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parseRequestHead(partial, {}, &head, &error));
  }
}

void response(benchmark::State& state) {
  ResponseHead head;
  ParseError error = ParseError::kNone;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parseResponseHead(kResponse, {}, false, &head, &error));
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponse.size()));
}

void chunkedDecode(benchmark::State& state) {
  std::string body;
  for (int i = 0; i < 16; ++i) body += "1000\r\n" + std::string(4096, 'x') + "\r\n";
  body += "0\r\n\r\n";
  ChunkedDecoder decoder;
  for (auto _ : state) {
    decoder.reset();
    std::string_view rest = body;
    size_t consumed = 0;
    std::string_view payload;
    while (decoder.feed(rest, &consumed, &payload) == ChunkedDecoder::Status::kNeedMore) {
      rest.remove_prefix(consumed);
      benchmark::DoNotOptimize(payload.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

BENCHMARK(requestCurlGet);
BENCHMARK(requestBrowserGet);
BENCHMARK(requestIncompleteBrowserGet);
BENCHMARK(response);
BENCHMARK(chunkedDecode);

}  // namespace

BENCHMARK_MAIN();
