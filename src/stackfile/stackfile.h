// The stack-file pipeline (kontena.yml, reference §1): load, variables (types, resolvers,
// setters), the Liquid subset, $VAR interpolation, strict validation, only_if/skip_if, extends,
// normalisation. One call does it all: load_stack(LoadInput) -> LoadedStack.
//
// Errors are kontena::Error(invalid); validation problems are collected and thrown together as a
// StackFileError whose message has one line per problem, each "FILE:LINE: PATH: MESSAGE"
// (e.g. `kontena.yml:12: services.web: key "networks" is not expected`).
// See docs/stack-file.md for what is supported and the normalised form.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace kontena::stackfile {

// One problem found in a stack file. line is 1-based; 0 when unknown.
struct Diagnostic {
  std::string file;
  int line = 0;
  std::string path;  // "services.web.ports[1]"; empty for the whole file
  std::string message;
  std::string to_string() const;
};

// All the validation errors of one load, thrown together.
class StackFileError : public kontena::Error {
 public:
  explicit StackFileError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const noexcept { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// What a prompt asks (the CLI renders it on a terminal).
struct PromptRequest {
  std::string variable;           // variable name
  std::string type;               // string, integer, boolean, enum, uri, array
  std::string label;              // the prompt text (hint, description, or the name)
  nlohmann::json default_value;   // null when none
  std::vector<std::string> options;  // enum values
  bool echo = true;               // false: a password (do not echo)
};

// Resolvers that need a person or the master. The CLI plugs a terminal prompt and the vault;
// tests use fakes. Every method has a harmless default.
class Resolver {
 public:
  virtual ~Resolver() = default;
  // True when a terminal is attached: only then is `prompt` called.
  virtual bool interactive() const { return false; }
  virtual std::optional<nlohmann::json> prompt(const PromptRequest&) { return std::nullopt; }
  // Vault: reading a missing key returns nullopt. Default: fails with "vault is not available".
  virtual std::optional<std::string> vault_read(const std::string& key);
  virtual void vault_write(const std::string& key, const std::string& value);
  // Other resolvers served by the master: service_instances, certificates, vault_cert_prompt,
  // service_link. Default: no value.
  virtual std::optional<nlohmann::json> resolve(const std::string& resolver, const nlohmann::json& hint,
                                                const std::string& variable) {
    (void)resolver, (void)hint, (void)variable;
    return std::nullopt;
  }
};

// Reads stack files given by URL (the CLI does the HTTP). Throws kontena::Error on failure.
class Fetcher {
 public:
  virtual ~Fetcher() = default;
  virtual std::string fetch(const std::string& url) = 0;
};

struct LoadInput {
  std::string text;    // the file's text; when empty, `origin` is read (file path or URL)
  std::string origin = "kontena.yml";  // file path or URL: messages, and relative extends files
  std::string stack_name;              // -n NAME; default: the name in the file
  std::string grid;                    // $GRID
  std::string platform;                // $PLATFORM; default: grid
  std::string parent_stack;            // PARENT_STACK when installed as a dependency
  std::map<std::string, std::string> values;  // -v k=v (typed by the variable's type)
  nlohmann::json values_from = nlohmann::json::object();  // --values-from (parsed, see parse_values)
  std::map<std::string, std::string> env;     // the environment seen by `from: env` and `$VAR`
  Resolver* resolver = nullptr;
  Fetcher* fetcher = nullptr;
  std::optional<std::uint64_t> random_seed;   // deterministic random_* resolvers (tests)
  bool run_setters = true;  // false: do not write `to: vault` setters (validate / dry run)
  bool require_stack_key = true;  // false for files loaded only to extend a service
  // false: never read local files (extends/env_file/`from: file`); only the text and the fetcher.
  bool local_files = true;
};

struct LoadedStack {
  nlohmann::json stack;     // the normalised stack (docs/stack-file.md)
  nlohmann::json values = nlohmann::json::object();  // every resolved variable value (--values-to)
  std::vector<std::string> warnings;
  std::string interpolated;  // the text after Liquid and $VAR (what `stack validate` prints)
};

// Runs the whole pipeline. Throws StackFileError (kind invalid) listing every problem found.
LoadedStack load_stack(const LoadInput& input);

// Reads a stack source: a URL (http:// or https://) through the fetcher, else a local file.
std::string read_source(const std::string& origin, Fetcher* fetcher);

// "k=v" of -v; throws Error(invalid) without '='.
std::pair<std::string, std::string> parse_value_arg(const std::string& arg);
// The YAML (or JSON) of --values-from into an object; throws Error(invalid).
nlohmann::json parse_values(const std::string& text, const std::string& file_name);
// The YAML written by --values-to.
std::string values_to_yaml(const nlohmann::json& values);

// Limits (inputs beyond these are rejected with a clear error, never a crash).
inline constexpr std::size_t kMaxSourceBytes = 1 << 20;       // 1 MiB
inline constexpr std::size_t kMaxRenderedBytes = 4 << 20;     // Liquid output
inline constexpr int kMaxNesting = 64;                        // YAML and Liquid nesting
inline constexpr std::size_t kMaxNodes = 200000;              // YAML nodes after alias expansion
inline constexpr std::size_t kMaxLoopIterations = 100000;     // Liquid for loops, in total
inline constexpr int kMaxExtendsDepth = 10;

}  // namespace kontena::stackfile
