#include "queue/callback.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace sg::queue {
namespace {

struct UrlCase {
  const char* text;
  const char* host;  // nullptr: refused
  uint16_t port;
  const char* target;
  const char* host_field;
};

TEST(CallbackUrl, GoodUrls) {
  const UrlCase cases[] = {
      {"http://hooks.example.com/done", "hooks.example.com", 80, "/done", "hooks.example.com"},
      {"HTTP://Hooks.Example.COM/Done?A=B", "hooks.example.com", 80, "/Done?A=B",
       "hooks.example.com"},
      {"http://127.0.0.1:8080/cb?job=1&x=%20", "127.0.0.1", 8080, "/cb?job=1&x=%20",
       "127.0.0.1:8080"},
      {"http://hooks.example.com", "hooks.example.com", 80, "/", "hooks.example.com"},
      {"http://hooks.example.com?x=1", "hooks.example.com", 80, "/?x=1", "hooks.example.com"},
      {"http://hooks.example.com:80/", "hooks.example.com", 80, "/", "hooks.example.com"},
      {"http://[::1]:9000/cb", "[::1]", 9000, "/cb", "[::1]:9000"},
      // IPv6 literals in canonical form (lower-case, zeros compressed), as allow lists hold them.
      {"http://[2001:DB8:0::1]/", "[2001:db8::1]", 80, "/", "[2001:db8::1]"},
      {"http://my_host-1.internal:65535/a/b", "my_host-1.internal", 65535, "/a/b",
       "my_host-1.internal:65535"},
  };
  for (const UrlCase& c : cases) {
    std::string why;
    auto url = parseCallbackUrl(c.text, &why);
    ASSERT_TRUE(url.has_value()) << c.text << ": " << why;
    EXPECT_EQ(url->host, c.host) << c.text;
    EXPECT_EQ(url->port, c.port) << c.text;
    EXPECT_EQ(url->target, c.target) << c.text;
    EXPECT_EQ(url->hostField, c.host_field) << c.text;
  }
}

TEST(CallbackUrl, BadUrls) {
  const std::pair<std::string, std::string> cases[] = {
      {"https://hooks.example.com/", "https callbacks are not supported yet"},
      {"HTTPS://hooks.example.com/", "https callbacks are not supported yet"},
      {"ftp://hooks.example.com/", "absolute http://"},
      {"/relative/path", "absolute http://"},
      {"hooks.example.com/x", "absolute http://"},
      {"http:/hooks.example.com", "absolute http://"},
      {"", "absolute http://"},
      {"http://", "no host"},
      {"http:///path", "no host"},
      {"http://:8080/path", "no host"},
      {"http://user:pw@hooks.example.com/", "user information"},
      {"http://@hooks.example.com/", "user information"},
      {"http://hooks.example.com/a#frag", "fragment"},
      {"http://hooks.example.com/a b", "spaces"},
      {"http://hooks.example.com/a\r\nX-Evil: 1", "control"},
      {"http://hooks.example.com/\xc3\xa9", "non-ASCII"},
      {"http://hooks.example.com:/", "port"},
      {"http://hooks.example.com:0/", "port"},
      {"http://hooks.example.com:65536/", "port"},
      {"http://hooks.example.com:8o/", "port"},
      {"http://hooks.example.com:123456/", "port"},
      {"http://999.1.1.1/", "IPv4"},
      {"http://10.1/", "IPv4"},
      {"http://hooks..example.com/", "host name"},
      {"http://.example.com/", "host name"},
      {"http://exa%6dple.com/", "host name"},
      {"http://[::1/", "unclosed"},
      {"http://[nothex]/", "IPv6"},
      {"http://[]/", "IPv6"},
      {"http://[::1]x/", "after ']'"},
      {"http://" + std::string(2100, 'a') + "/", "longer than"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    auto url = parseCallbackUrl(text, &why);
    EXPECT_FALSE(url.has_value()) << text;
    EXPECT_NE(why.find(reason), std::string::npos) << text << " -> " << why;
  }
}

TEST(CallbackUrl, AllowListIsExactOnTheHost) {
  const std::vector<std::string> allow{"hooks.example.com", "127.0.0.1", "[::1]"};
  EXPECT_TRUE(callbackHostAllowed("hooks.example.com", allow));
  EXPECT_TRUE(callbackHostAllowed("127.0.0.1", allow));
  EXPECT_TRUE(callbackHostAllowed("[::1]", allow));
  EXPECT_FALSE(callbackHostAllowed("evil.hooks.example.com", allow));
  EXPECT_FALSE(callbackHostAllowed("hooks.example.com.evil", allow));
  EXPECT_FALSE(callbackHostAllowed("example.com", allow));
  EXPECT_FALSE(callbackHostAllowed("127.0.0.2", allow));

  EXPECT_EQ(checkCallbackUrl("http://Hooks.Example.com:9999/x", allow), std::nullopt);
  EXPECT_EQ(checkCallbackUrl("http://127.0.0.1:1/", allow), std::nullopt);
  EXPECT_EQ(checkCallbackUrl("http://[::1]:1/", allow), std::nullopt);
  // Another spelling of the same address is the same host.
  EXPECT_EQ(checkCallbackUrl("http://[0:0:0:0:0:0:0:1]:1/", allow), std::nullopt);
  EXPECT_EQ(checkCallbackUrl("http://[::0:1]/", allow), std::nullopt);
  EXPECT_TRUE(checkCallbackUrl("http://[::2]/", allow).has_value());
  auto refused = checkCallbackUrl("http://evil.example/", allow);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("evil.example is not in"), std::string::npos) << *refused;
  // A userinfo trick must not reach the allow list as the host.
  EXPECT_TRUE(checkCallbackUrl("http://hooks.example.com@evil.example/", allow).has_value());
  EXPECT_EQ(*checkCallbackUrl("https://hooks.example.com/", allow),
            "https callbacks are not supported yet");
}

TEST(CallbackSignature, Rfc4231TestCase2) {
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // timestamp "." body, as the receiver recomputes it.
  EXPECT_EQ(callbackSignature("Jefe", 1796247000, "{}"),
            "sha256=" + hmacSha256Hex("Jefe", "1796247000.{}"));
}

TEST(CallbackBody, WithAndWithoutResult) {
  JobResult result;
  result.status = 201;
  result.headers = {{"Content-Type", "text/plain"}};
  result.body = "done";
  result.body_size = 4;  // as the store keeps it
  const std::string id = "0000000000010123456789abcdef0123456789abcdef";
  EXPECT_EQ(callbackBody(id, "orders", JobState::kSucceeded, 1, &result),
            "{\"id\":\"" + id +
                "\",\"queue\":\"orders\",\"state\":\"succeeded\",\"attempts\":1,\"result\":"
                "{\"status\":201,\"headers\":[[\"Content-Type\",\"text/plain\"]],\"body\":\"done\","
                "\"body_encoding\":\"utf-8\",\"body_omitted\":false,\"body_size\":4}}");
  EXPECT_EQ(callbackBody(id, "orders", JobState::kDead, 3, nullptr),
            "{\"id\":\"" + id +
                "\",\"queue\":\"orders\",\"state\":\"dead\",\"attempts\":3,\"result\":null}");
}

TEST(CallbackRequest, Bytes) {
  std::string why;
  auto url = parseCallbackUrl("http://127.0.0.1:8080/cb?x=1", &why);
  ASSERT_TRUE(url);
  const std::string body = "{\"a\":1}";
  EXPECT_EQ(callbackRequest(*url, "jobid", body, 1700000000, "k"),
            "POST /cb?x=1 HTTP/1.1\r\n"
            "Host: 127.0.0.1:8080\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 7\r\n"
            "Connection: close\r\n"
            "User-Agent: scalegate\r\n"
            "X-Scalegate-Job-Id: jobid\r\n"
            "X-Scalegate-Timestamp: 1700000000\r\n"
            "X-Scalegate-Signature: sha256=" +
                hmacSha256Hex("k", "1700000000." + body) + "\r\n\r\n" + body);
}

TEST(CallbackRequest, ResponseStatus) {
  EXPECT_EQ(responseStatus("HTTP/1.1 204 No Content\r\n\r\n"), 204);
  EXPECT_EQ(responseStatus("HTTP/1.0 200\r\n\r\n"), 200);
  EXPECT_EQ(responseStatus("HTTP/1.1 500 Oops\r\n"), 500);
  EXPECT_EQ(responseStatus("HTTP/1.1 20"), 0);
  EXPECT_EQ(responseStatus("HTTP/2 200 OK\r\n"), 0);
  EXPECT_EQ(responseStatus("garbage"), 0);
  EXPECT_EQ(responseStatus(""), 0);
}

TEST(CallbackSecret, ReadsWholeFileWithoutTrailingNewlines) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sg_cb_secret_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  };
  std::string secret, error;
  EXPECT_TRUE(readCallbackSecret(write("a", "s3cret\n\r\n"), &secret, &error)) << error;
  EXPECT_EQ(secret, "s3cret");
  EXPECT_TRUE(readCallbackSecret(write("b", "line1\nline2 \n"), &secret, &error));
  EXPECT_EQ(secret, "line1\nline2 ");
  const std::string empty = write("c", "\n\n");
  EXPECT_FALSE(readCallbackSecret(empty, &secret, &error));
  EXPECT_NE(error.find(empty), std::string::npos) << error;
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  const std::string missing = (dir / "missing").string();
  EXPECT_FALSE(readCallbackSecret(missing, &secret, &error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  std::filesystem::remove_all(dir);
}

// A loopback receiver that answers the given statuses in turn and keeps what it read.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    for (int status : statuses_) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      // Head, then Content-Length bytes of body.
      for (;;) {
        const size_t end = request.find("\r\n\r\n");
        if (end != std::string::npos) {
          const size_t at = request.find("Content-Length: ");
          const size_t length = std::stoul(request.substr(at + 16));
          if (request.size() >= end + 4 + length) break;
        }
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      const std::string answer =
          "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
      ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }
  std::vector<int> statuses_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

CallbackItem itemFor(uint16_t port) {
  std::string why;
  CallbackItem item;
  item.url = *parseCallbackUrl("http://127.0.0.1:" + std::to_string(port) + "/hook", &why);
  item.job_id = "job-1";
  item.body = "{\"id\":\"job-1\"}";
  item.secret = std::make_shared<const std::string>("k");
  return item;
}

TEST(CallbackSender, RetriesUntilA2xx) {
  std::vector<CallbackResult> results;
  std::mutex mutex;
  {
    Receiver receiver({500, 503, 204});
    CallbackSenderOptions options;
    options.queue = "orders";
    options.backoff_ms = {10, 20};
    options.count = [&](CallbackResult result) {
      std::lock_guard lock(mutex);
      results.push_back(result);
    };
    CallbackSender sender(options);
    sender.start();
    EXPECT_TRUE(sender.push(itemFor(receiver.port())));
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mutex);
        if (!results.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    sender.stop();
    const std::vector<std::string> requests = receiver.requests();
    ASSERT_EQ(requests.size(), 3u);
    const std::string& first = requests[0];
    EXPECT_EQ(first.rfind("POST /hook HTTP/1.1\r\nHost: 127.0.0.1:", 0), 0u) << first;
    EXPECT_NE(first.find("X-Scalegate-Job-Id: job-1\r\n"), std::string::npos);
    EXPECT_NE(first.find("\r\n\r\n{\"id\":\"job-1\"}"), std::string::npos);
  }
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], CallbackResult::kSent);
}

TEST(CallbackSender, GivesUpAfterThreeTries) {
  std::atomic<int> failed{0};
  Receiver receiver({500, 500, 500});
  CallbackSenderOptions options;
  options.backoff_ms = {5, 5};
  options.count = [&](CallbackResult result) {
    if (result == CallbackResult::kFailed) ++failed;
  };
  CallbackSender sender(options);
  sender.start();
  sender.push(itemFor(receiver.port()));
  for (int i = 0; i < 200 && failed.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  sender.stop();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(receiver.requests().size(), 3u);
}

TEST(CallbackSender, BoundedAndDropsAtStop) {
  std::atomic<int> dropped{0};
  CallbackSenderOptions options;
  options.max_pending = 2;
  options.count = [&](CallbackResult result) {
    if (result == CallbackResult::kDropped) ++dropped;
  };
  CallbackSender sender(options);  // not started: everything stays pending
  EXPECT_TRUE(sender.push(itemFor(1)));
  EXPECT_TRUE(sender.push(itemFor(1)));
  EXPECT_FALSE(sender.push(itemFor(1)));
  EXPECT_EQ(dropped.load(), 1);
  sender.stop();
  EXPECT_EQ(dropped.load(), 3);
  EXPECT_FALSE(sender.push(itemFor(1)));  // stopped
}

TEST(CallbackSender, StopCutsAHangingReceiverShort) {
  // Accepts (the kernel's backlog does) but never answers.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  CallbackSender sender(CallbackSenderOptions{});
  sender.start();
  sender.push(itemFor(ntohs(address.sin_port)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto started = std::chrono::steady_clock::now();
  sender.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  ::close(fd);
}

}  // namespace
}  // namespace sg::queue
