// Runs one fuzz input through the whole stack-file pipeline. Shared by the libFuzzer target
// (stackfile_fuzz.cpp) and the unit test that replays the corpus (tests/unit/stackfile).
// Any kontena::Error is an expected outcome; anything else (another exception, a crash, a
// sanitizer report, a hang) is a bug.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "stackfile/stackfile.h"

namespace kontena::stackfile::fuzz {

class FuzzResolver : public Resolver {
 public:
  bool interactive() const override { return true; }
  std::optional<nlohmann::json> prompt(const PromptRequest& r) override {
    if (r.type == "integer") return 2;
    if (r.type == "boolean") return true;
    if (!r.options.empty()) return r.options.front();
    return "answer";
  }
  std::optional<std::string> vault_read(const std::string& key) override {
    if (key.size() % 2 == 0) return "secret-" + key;
    return std::nullopt;
  }
  void vault_write(const std::string&, const std::string&) override {}
  std::optional<nlohmann::json> resolve(const std::string&, const nlohmann::json&, const std::string&) override {
    return 1;
  }
};

class FuzzFetcher : public Fetcher {
 public:
  std::string fetch(const std::string& url) override {
    if (url.find("base") != std::string::npos) {
      return "services:\n  web:\n    image: base\n    environment:\n      - A=1\n  db:\n    extends: web\n";
    }
    if (url.find(".env") != std::string::npos) return "X=1\n#c\nY=2\n";
    throw kontena::Error(ErrorKind::not_found, "404 " + url);
  }
};

// Returns true when the input loaded, false when it was rejected with a kontena::Error.
inline bool run_stackfile_input(const std::uint8_t* data, std::size_t size) {
  FuzzResolver resolver;
  FuzzFetcher fetcher;
  LoadInput in;
  in.text = std::string(reinterpret_cast<const char*>(data), size);
  if (in.text.empty()) in.text = " ";
  in.origin = "https://fuzz.invalid/stacks/kontena.yml";
  in.grid = "fuzz";
  in.values = {{"a", "1"}, {"b", "yes"}, {"dep.x", "y"}};
  in.env = {{"HOME", "/root"}, {"A", "env-a"}};
  in.resolver = &resolver;
  in.fetcher = &fetcher;
  in.random_seed = 1;
  in.local_files = false;
  try {
    LoadedStack s = load_stack(in);
    // Exercise the outputs as a caller would.
    (void)s.stack.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)values_to_yaml(s.values);
    return true;
  } catch (const kontena::Error&) {
    return false;
  }
}

}  // namespace kontena::stackfile::fuzz
