// Shared helpers for the stack-file tests.
#pragma once
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "stackfile/stackfile.h"

namespace kontena::stackfile::test {

// A resolver with a fake terminal and a fake vault.
class FakeResolver : public Resolver {
 public:
  bool tty = false;
  std::map<std::string, nlohmann::json> answers;  // variable -> prompt answer
  std::vector<PromptRequest> asked;
  std::map<std::string, std::string> vault;
  std::map<std::string, std::string> written;
  std::map<std::string, nlohmann::json> remote;  // resolver name -> value

  bool interactive() const override { return tty; }
  std::optional<nlohmann::json> prompt(const PromptRequest& r) override {
    asked.push_back(r);
    auto it = answers.find(r.variable);
    if (it == answers.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> vault_read(const std::string& key) override {
    auto it = vault.find(key);
    if (it == vault.end()) return std::nullopt;
    return it->second;
  }
  void vault_write(const std::string& key, const std::string& value) override {
    written[key] = value;
    vault[key] = value;
  }
  std::optional<nlohmann::json> resolve(const std::string& resolver, const nlohmann::json&,
                                        const std::string&) override {
    auto it = remote.find(resolver);
    if (it == remote.end()) return std::nullopt;
    return it->second;
  }
};

class FakeFetcher : public Fetcher {
 public:
  std::map<std::string, std::string> pages;
  std::vector<std::string> fetched;
  std::string fetch(const std::string& url) override {
    fetched.push_back(url);
    auto it = pages.find(url);
    if (it == pages.end()) throw kontena::Error(ErrorKind::not_found, "GET " + url + ": 404 Not Found");
    return it->second;
  }
};

inline LoadedStack load(const std::string& text, LoadInput in = {}) {
  in.text = text;
  if (in.grid.empty()) in.grid = "testgrid";
  if (!in.random_seed) in.random_seed = 42;
  return load_stack(in);
}

// The error message of a load that must fail ("" when it did not fail).
inline std::string load_error(const std::string& text, LoadInput in = {}) {
  try {
    load(text, std::move(in));
  } catch (const StackFileError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    return e.what();
  } catch (const kontena::Error& e) {
    return std::string("(not a StackFileError) ") + e.what();
  }
  return "";
}

// A stack with one service `web` whose body is given (indented by the helper).
inline std::string one_service(const std::string& body) {
  std::string out = "stack: test/app\nservices:\n  web:\n";
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    out += "    " + line + "\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

inline nlohmann::json web(const std::string& body, LoadInput in = {}) {
  return load(one_service(body), std::move(in)).stack["services"][0];
}

inline std::string web_error(const std::string& body, LoadInput in = {}) {
  return load_error(one_service(body), std::move(in));
}

inline bool has_warning(const LoadedStack& s, const std::string& part) {
  for (const auto& w : s.warnings) {
    if (w.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace kontena::stackfile::test
