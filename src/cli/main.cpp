// kontena: the command line client of Kontena/C++. See docs/cli.md.
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/app.h"
#include "common/log.h"

int main(int argc, char** argv) {
  // DEBUG=1 prints every request and answer to stderr; otherwise the client logs nothing.
  const char* debug = std::getenv("DEBUG");
  const bool debugging = debug != nullptr && *debug != '\0' && std::string(debug) != "0" && std::string(debug) != "false";
  kontena::init_logging("kontena", debugging ? "debug" : "off");

  kontena::cli::Context ctx;
  return kontena::cli::run_cli(std::vector<std::string>(argv + 1, argv + argc), ctx);
}
