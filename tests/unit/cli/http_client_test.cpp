#include "cli/http_client.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "common/asio.h"
#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::FakeMaster;
using nlohmann::json;

TEST(ErrorFromResponse, UsesTheMastersMessageAndField) {
  const Error e = error_from_response(422, R"({"error":"initial_size must be 1..7","field":"initial_size"})");
  EXPECT_EQ(e.kind(), ErrorKind::invalid);
  EXPECT_STREQ(e.what(), "initial_size must be 1..7");
  EXPECT_EQ(e.field(), "initial_size");
  EXPECT_EQ(error_from_response(409, R"({"error":"exists"})").kind(), ErrorKind::conflict);
  EXPECT_EQ(error_from_response(403, R"({"error":"no"})").kind(), ErrorKind::forbidden);
}

TEST(ErrorFromResponse, NonJsonBodiesKeepTheStatus) {
  const Error e = error_from_response(502, "<html>\nBad Gateway</html>");
  EXPECT_EQ(e.kind(), ErrorKind::internal);
  EXPECT_STREQ(e.what(), "the master answered HTTP 502: <html> Bad Gateway</html>");
  EXPECT_STREQ(error_from_response(500, "").what(), "the master answered HTTP 500");
}

TEST(StoredTokenFromAnswer, ComputesExpiryLocally) {
  const StoredToken token = stored_token_from_answer(
      {{"access_token", "a"}, {"refresh_token", "r"}, {"expires_in", 7200}, {"expires_at", "2099-01-01T00:00:00Z"}}, 1000);
  EXPECT_EQ(token.access_token, "a");
  EXPECT_EQ(token.refresh_token, "r");
  EXPECT_EQ(token.expires_at, 8200);
  EXPECT_FALSE(stored_token_from_answer({{"access_token", "a"}, {"expires_in", nullptr}}, 1000).expires_at);
  EXPECT_THROW(stored_token_from_answer({{"error", "x"}}, 1000), Error);
}

class ApiClientTest : public ::testing::Test {
 protected:
  FakeMaster master;
  ManualClock clock;  // 1'700'000'000 s
  std::vector<StoredToken> saved;

  ApiClient client(std::optional<StoredToken> token) {
    return ApiClient(master, "http://m:9292/base", std::move(token), clock,
                     [this](const StoredToken& t) { saved.push_back(t); });
  }
  static json refreshed_answer() {
    return {{"access_token", "new-access"}, {"refresh_token", "new-refresh"}, {"expires_in", 7200}};
  }
};

TEST_F(ApiClientTest, SendsJsonWithTheBearerToken) {
  master.on("POST /base/v1/grids", 201, {{"name", "demo"}});
  auto api = client(StoredToken{"tok", "", std::nullopt});
  EXPECT_EQ(api.post("/v1/grids", {{"name", "demo"}}), (json{{"name", "demo"}}));
  ASSERT_EQ(master.requests.size(), 1u);
  const HttpRequest& request = master.requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url.host, "m");
  EXPECT_EQ(request.target, "/base/v1/grids");
  EXPECT_EQ(FakeMaster::header(request, "Authorization"), "Bearer tok");
  EXPECT_EQ(FakeMaster::body_of(request), (json{{"name", "demo"}}));
  EXPECT_EQ(request.timeout, std::chrono::seconds(30));
}

TEST_F(ApiClientTest, NoTokenNoAuthorizationHeaderAndEmptyAnswerIsAnObject) {
  master.on_raw("DELETE /base/v1/x", 200, "");
  auto api = client(std::nullopt);
  EXPECT_EQ(api.del("/v1/x"), json::object());
  EXPECT_EQ(FakeMaster::header(master.requests[0], "Authorization"), "");
  EXPECT_TRUE(master.requests[0].body.empty());
}

TEST_F(ApiClientTest, HttpErrorsBecomeErrorsWithTheMastersMessage) {
  master.on("GET /base/v1/grids/x", 404, {{"error", "grid x does not exist"}});
  auto api = client(StoredToken{"tok", "", std::nullopt});
  try {
    api.get("/v1/grids/x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_STREQ(e.what(), "grid x does not exist");
  }
}

TEST_F(ApiClientTest, On401RefreshesOnceAndRetries) {
  master.on("GET /base/v1/user", 401, {{"error", "token expired"}});
  master.on("GET /base/v1/user", 200, {{"email", "admin"}});
  master.on("POST /base/oauth2/token", 200, refreshed_answer());
  auto api = client(StoredToken{"old", "refresh-1", std::nullopt});
  EXPECT_EQ(api.get("/v1/user")["email"], "admin");

  ASSERT_EQ(master.requests.size(), 3u);
  EXPECT_EQ(FakeMaster::header(master.requests[0], "Authorization"), "Bearer old");
  EXPECT_EQ(master.requests[1].target, "/base/oauth2/token");
  EXPECT_EQ(FakeMaster::body_of(master.requests[1]),
            (json{{"grant_type", "refresh_token"}, {"refresh_token", "refresh-1"}}));
  EXPECT_EQ(FakeMaster::header(master.requests[1], "Authorization"), "") << "the token route is public";
  EXPECT_EQ(FakeMaster::header(master.requests[2], "Authorization"), "Bearer new-access");
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].access_token, "new-access");
  EXPECT_EQ(saved[0].refresh_token, "new-refresh");
  EXPECT_EQ(saved[0].expires_at, 1'700'000'000 + 7200);
}

TEST_F(ApiClientTest, RefreshesAnExpiredTokenBeforeTheCall) {
  master.on("GET /base/v1/user", 200, {{"email", "admin"}});
  master.on("POST /base/oauth2/token", 200, refreshed_answer());
  auto api = client(StoredToken{"old", "refresh-1", 1'700'000'000 - 1});
  api.get("/v1/user");
  ASSERT_EQ(master.requests.size(), 2u);
  EXPECT_EQ(master.requests[0].target, "/base/oauth2/token");
  EXPECT_EQ(FakeMaster::header(master.requests[1], "Authorization"), "Bearer new-access");
  EXPECT_EQ(api.token()->access_token, "new-access");
}

TEST_F(ApiClientTest, DoesNotRefreshTwiceWhenStillUnauthorized) {
  master.on("GET /base/v1/user", 401, {{"error", "forbidden token"}});
  master.on("POST /base/oauth2/token", 200, refreshed_answer());
  auto api = client(StoredToken{"old", "refresh-1", std::nullopt});
  EXPECT_THROW(api.get("/v1/user"), Error);
  EXPECT_EQ(master.find("POST", "/base/oauth2/token").size(), 1u);
  EXPECT_EQ(master.find("GET", "/base/v1/user").size(), 2u);
}

TEST_F(ApiClientTest, WithoutRefreshToken401IsFinal) {
  master.on("GET /base/v1/user", 401, {{"error", "token expired"}});
  auto api = client(StoredToken{"old", "", std::nullopt});
  try {
    api.get("/v1/user");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unauthorized);
  }
  EXPECT_EQ(master.requests.size(), 1u);
}

TEST_F(ApiClientTest, FailedRefreshSaysSo) {
  master.on("GET /base/v1/user", 401, {{"error", "token expired"}});
  master.on("POST /base/oauth2/token", 400, {{"error", "unknown refresh token"}});
  auto api = client(StoredToken{"old", "bad", std::nullopt});
  try {
    api.get("/v1/user");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unauthorized);
    EXPECT_STREQ(e.what(), "the access token has expired and could not be refreshed: unknown refresh token");
  }
  EXPECT_TRUE(saved.empty());
}

TEST_F(ApiClientTest, NonJsonSuccessIsAnError) {
  master.on_raw("GET /base/", 200, "<html>");
  auto api = client(std::nullopt);
  EXPECT_THROW(api.get("/"), Error);
}

// The real transport against a one-shot HTTP server on loopback. The server reads the request
// by hand (not with Beast's parser) so the test checks the client against plain HTTP/1.1.
namespace {

using tcp = boost::asio::ip::tcp;

struct ReceivedRequest {
  std::string request_line;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

ReceivedRequest read_request(tcp::socket& socket) {
  std::string data;
  boost::system::error_code ec;
  char chunk[4096];
  while (data.find("\r\n\r\n") == std::string::npos) {
    const std::size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
    if (ec) break;
    data.append(chunk, n);
  }
  ReceivedRequest request;
  const auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return request;
  std::istringstream head(data.substr(0, head_end));
  std::string line;
  std::getline(head, request.request_line);
  if (!request.request_line.empty() && request.request_line.back() == '\r') request.request_line.pop_back();
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  request.body = data.substr(head_end + 4);
  const std::size_t length = request.headers.count("content-length") ? std::stoul(request.headers["content-length"]) : 0;
  while (request.body.size() < length) {
    const std::size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
    if (ec) break;
    request.body.append(chunk, n);
  }
  return request;
}

struct OneShotServer {
  boost::asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)};
  std::promise<ReceivedRequest> received;
  std::thread thread;

  unsigned short port() const { return acceptor.local_endpoint().port(); }

  // answer: raw bytes to send back; nullopt = never answer (until the client gives up)
  void serve(std::optional<std::string> answer) {
    thread = std::thread([this, answer] {
      tcp::socket socket(io);
      acceptor.accept(socket);
      received.set_value(read_request(socket));
      boost::system::error_code ec;
      if (answer) {
        boost::asio::write(socket, boost::asio::buffer(*answer), ec);
      } else {
        char byte;
        socket.read_some(boost::asio::buffer(&byte, 1), ec);  // until the client closes
      }
      socket.shutdown(tcp::socket::shutdown_both, ec);
    });
  }
  ~OneShotServer() {
    if (thread.joinable()) thread.join();
  }
};

HttpRequest request_to(unsigned short port, const std::string& scheme = "http") {
  HttpRequest request;
  request.method = "PUT";
  request.url = parse_url(scheme + "://127.0.0.1:" + std::to_string(port));
  request.target = "/v1/nodes/demo/n1";
  request.body = R"({"labels":["a=b"]})";
  request.headers.emplace_back("Authorization", "Bearer t");
  return request;
}

}  // namespace

TEST(BeastTransport, RoundTrip) {
  OneShotServer server;
  server.serve("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
  auto transport = make_beast_transport(true);
  const HttpResponse response = transport->send(request_to(server.port()));
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, R"({"ok":true})");

  auto request = server.received.get_future().get();
  EXPECT_EQ(request.request_line, "PUT /v1/nodes/demo/n1 HTTP/1.1");
  EXPECT_EQ(request.body, R"({"labels":["a=b"]})");
  EXPECT_EQ(request.headers["authorization"], "Bearer t");
  EXPECT_EQ(request.headers["content-type"], "application/json");
  EXPECT_EQ(request.headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(request.headers["user-agent"], std::string("kontena-cli/") + KONTENA_VERSION);
}

TEST(BeastTransport, ResponseWithoutContentLengthEndsAtClose) {
  OneShotServer server;
  server.serve("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n{\"error\":\"no such grid\"}");
  auto transport = make_beast_transport(true);
  const HttpResponse response = transport->send(request_to(server.port()));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, R"({"error":"no such grid"})");
}

TEST(BeastTransport, ConnectionRefusedSaysTheMasterIsUnreachable) {
  unsigned short port = 0;
  {
    boost::asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }  // closed: nothing listens there now
  auto transport = make_beast_transport(true);
  try {
    transport->send(request_to(port));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_EQ(std::string(e.what()), "cannot reach the master at http://127.0.0.1:" + std::to_string(port) +
                                         ": Connection refused. Is kontena-server running?");
  }
}

TEST(BeastTransport, TimesOutWhenTheMasterDoesNotAnswer) {
  OneShotServer server;
  server.serve(std::nullopt);
  auto transport = make_beast_transport(true);
  HttpRequest request = request_to(server.port());
  request.timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  try {
    transport->send(request);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("no answer within 1 s"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(BeastTransport, TlsToAPlainHttpServerFailsWithAHint) {
  OneShotServer server;
  server.serve("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  auto transport = make_beast_transport(true);
  try {
    transport->send(request_to(server.port(), "https"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("TLS connection to the master at https://127.0.0.1:", 0), 0u) << message;
    EXPECT_NE(message.find("KONTENA_SSL_VERIFY=false"), std::string::npos) << message;
  }
}
