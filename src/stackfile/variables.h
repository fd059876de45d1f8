// The `variables:` block (reference §1.5): definitions, types, resolvers, setters, only_if/skip_if.
#pragma once
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stackfile/stackfile.h"
#include "stackfile/yaml_tree.h"

namespace kontena::stackfile {

// Collects diagnostics for one file.
struct Reporter {
  std::string file;
  std::vector<Diagnostic>* errors;
  std::vector<std::string>* warnings;
  void error(int line, const std::string& path, const std::string& message) const {
    errors->push_back(Diagnostic{file, line, path, message});
  }
  void warn(int line, const std::string& path, const std::string& message) const {
    warnings->push_back(Diagnostic{file, line, path, message}.to_string());
  }
};

class Variables {
 public:
  // block: the `variables:` mapping (may be null). builtins: GRID, STACK, PLATFORM, ... (always
  // declared, never typed).
  Variables(const YNode* block, const LoadInput& input, std::map<std::string, nlohmann::json> builtins,
            const Reporter& rep);

  // Resolves every variable (in file order; references are resolved on demand) and runs setters.
  void resolve_all();

  // Values of every declared name (builtins included); null when unset or skipped.
  const std::map<std::string, nlohmann::json>& values() const { return values_; }
  // Names set by `to: env` setters, with their values (usable as $NAME).
  const std::map<std::string, std::string>& env_setters() const { return env_setters_; }
  // The user variables (not builtins), resolved, for --values-to.
  nlohmann::json user_values() const;
  // The user variables minus those read from or written to the vault (stored with the stack).
  nlohmann::json stored_values() const;
  bool declared(const std::string& name) const { return values_.count(name) > 0; }

  // only_if / skip_if semantics (Opto): skip when any skip_if is true or not all only_if are.
  bool condition_skips(const YNode* only_if, const YNode* skip_if, const std::string& path);

 private:
  struct Def {
    std::string name;
    const YNode* node = nullptr;
    int line = 0;
    enum class State { pending, resolving, done } state = State::pending;
    bool skipped = false;
    bool vault = false;
  };

  nlohmann::json resolve(const std::string& name, int depth);
  void resolve_def(Def& d, int depth);
  std::optional<nlohmann::json> run_resolver(Def& d, const std::string& resolver, const YNode* hint, int depth);
  nlohmann::json apply_type(Def& d, nlohmann::json value);
  void run_setters(Def& d);
  std::string interpolate_refs(const std::string& text, const std::string& path, int line, int depth);
  bool condition_true(const YNode& cond, bool all, const std::string& path, int depth);
  std::string opt_string(const Def& d, const char* key, const std::string& fallback = "") const;
  bool opt_bool(const Def& d, const char* key, bool fallback) const;
  const YNode* opt(const Def& d, const char* key) const { return d.node && d.node->is_map() ? d.node->find(key) : nullptr; }

  const LoadInput& input_;
  Reporter rep_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> order_;
  std::map<std::string, Def> defs_;
  std::map<std::string, nlohmann::json> values_;
  std::set<std::string> builtins_;
  std::map<std::string, std::string> env_setters_;
  std::mt19937_64 rng_;
};

}  // namespace kontena::stackfile
