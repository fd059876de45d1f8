// Shared by the command groups: registration entry points and small helpers for options that
// many commands have (--grid, --json, -q, --force) and for the output every command uses.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/context.h"

namespace kontena::cli {

void register_master_commands(CLI::App& app, Context& ctx);
void register_master_user_commands(CLI::App& master, Context& ctx);   // master user ...
void register_master_token_commands(CLI::App& master, Context& ctx);  // master token ...
void register_master_admin_commands(CLI::App& master, Context& ctx);  // master audit-log, config
void register_grid_commands(CLI::App& app, Context& ctx);
void register_node_commands(CLI::App& app, Context& ctx);
void register_misc_commands(CLI::App& app, Context& ctx);  // whoami, version
void register_stack_commands(CLI::App& app, Context& ctx);    // stack ...
void register_service_commands(CLI::App& app, Context& ctx);  // service ...
void register_etcd_commands(CLI::App& app, Context& ctx);     // etcd ...

// Thrown by a command to end with this exit status once it printed what it had to (`service exec`
// exits with the command's status; an interrupted follow with 130).
class ExitStatus : public std::exception {
 public:
  explicit ExitStatus(int code) : code_(code) {}
  int code() const noexcept { return code_; }
  const char* what() const noexcept override { return "exit status"; }

 private:
  int code_;
};

// A command group ("grid", "master user"): one subcommand at most; run bare it prints its help.
CLI::App* add_group(CLI::App& parent, Context& ctx, const std::string& name, const std::string& description);

// --grid NAME for commands that work inside a grid.
void add_grid_option(CLI::App* command, Context& ctx);

// Per-command output flags; the struct lives as long as the app (shared_ptr captured by callbacks).
struct ListFlags {
  bool json = false;
  bool quiet = false;
};
void add_list_flags(CLI::App* command, ListFlags& flags);  // --json, -q/--quiet
void add_json_flag(CLI::App* command, bool& json);

// Prints "<what> ... " then "done" (or "failed" when action throws, rethrowing), like the
// original's spinner, so long-running calls show what is happening.
void with_progress(Context& ctx, const std::string& what, const std::function<void()>& action);

// API paths with the names percent-encoded.
std::string grid_path(const std::string& grid);                           // /v1/grids/:grid
std::string node_path(const std::string& grid, const std::string& node);  // /v1/nodes/:grid/:node
std::string user_path(const std::string& email);                          // /v1/users/:email

// "yes"/"no" for a JSON boolean field, "-" when missing.
std::string yes_no(const nlohmann::json& object, const char* key);

// The comma-joined role names of a user ({"roles":[{"name":...}]}), "-" when none.
std::string role_names(const nlohmann::json& user);

}  // namespace kontena::cli
