// One logging style: spdlog's default logger, set up once per process by init_logging().
// Messages are lowercase sentences followed by key=value pairs:
//   spdlog::info("grid created name={} user={}", name, email);
#pragma once
#include <spdlog/spdlog.h>
#include <string>

namespace kontena {

// level: trace|debug|info|warn|error (unknown -> info). Logs go to stderr.
void init_logging(const std::string& component, const std::string& level);

}  // namespace kontena
