// Test doubles for the CLI: a fake master behind the HttpTransport interface, and a harness that
// runs whole commands with a private config file, a fake environment and a manual clock.
#pragma once
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/context.h"
#include "cli/http_client.h"
#include "common/clock.h"

namespace kontena::cli::testing {

// Answers "METHOD /target" from queued responses (the last one repeats); records every request.
class FakeMaster final : public HttpTransport {
 public:
  void on(const std::string& method_and_target, int status, const nlohmann::json& body) {
    routes_[method_and_target].push_back(HttpResponse{status, body.dump()});
  }
  void on_raw(const std::string& method_and_target, int status, const std::string& body) {
    routes_[method_and_target].push_back(HttpResponse{status, body});
  }

  HttpResponse send(const HttpRequest& request) override {
    requests.push_back(request);
    auto it = routes_.find(request.method + " " + request.target);
    if (it == routes_.end() || it->second.empty())
      return HttpResponse{404, R"({"error":"fake master: no route )" + request.method + " " + request.target + "\"}"};
    HttpResponse response = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return response;
  }

  // The requests with this method and target, in order.
  std::vector<HttpRequest> find(const std::string& method, const std::string& target) const {
    std::vector<HttpRequest> found;
    for (const auto& r : requests)
      if (r.method == method && r.target == target) found.push_back(r);
    return found;
  }
  static nlohmann::json body_of(const HttpRequest& request) { return nlohmann::json::parse(request.body); }
  static std::string header(const HttpRequest& request, const std::string& name) {
    for (const auto& [key, value] : request.headers)
      if (key == name) return value;
    return {};
  }

  std::vector<HttpRequest> requests;

 private:
  std::map<std::string, std::deque<HttpResponse>> routes_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kontena-cli-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One CLI invocation environment; run() may be called several times (state persists in the
// config file, as between real invocations).
class CliHarness {
 public:
  CliHarness() : master(std::make_shared<FakeMaster>()) { env["KONTENA_CONFIG"] = config_path(); }

  std::string config_path() const { return (dir.path() / "kontena_client.json").string(); }

  int run(const std::vector<std::string>& args) {
    out.str("");
    err.str("");
    ContextOptions options;
    options.out = &out;
    options.err = &err;
    options.in = &in;
    options.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    options.transport = master;
    options.clock = &clock;
    options.stdin_is_terminal = [this] { return stdin_is_terminal; };
    Context ctx(options);
    return run_cli(args, ctx);
  }

  // A logged-in config: server "local" at http://master:9292, user admin, optional grid.
  void log_in(const std::string& grid = "", std::optional<std::int64_t> expires_at = std::nullopt,
              const std::string& refresh_token = "refresh-1") {
    ClientConfig config;
    ServerEntry server;
    server.name = "local";
    server.url = "http://master:9292";
    server.username = "admin";
    server.grid = grid;
    server.token = StoredToken{"access-1", refresh_token, expires_at};
    config.servers.push_back(server);
    config.current_server = "local";
    save_config(config, config_path());
  }

  ClientConfig saved_config() const { return load_config(config_path()); }

  TempDir dir;
  std::shared_ptr<FakeMaster> master;
  std::map<std::string, std::string> env;
  ManualClock clock;
  std::ostringstream out;
  std::ostringstream err;
  std::istringstream in;
  bool stdin_is_terminal = false;
};

}  // namespace kontena::cli::testing
