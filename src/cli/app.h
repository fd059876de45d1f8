// The kontena command tree and the one place that turns failures into exit codes:
// 0 ok, 1 error (including the master's HTTP errors), 2 usage error.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cli/context.h"

namespace kontena::cli {

// All command groups registered; callbacks capture ctx, which must outlive the app.
std::unique_ptr<CLI::App> build_app(Context& ctx);

// args without the program name: {"grid", "list"}. Errors go to ctx.err().
int run_cli(const std::vector<std::string>& args, Context& ctx);

}  // namespace kontena::cli
