#include "master/api/router.h"

namespace kontena::master {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

void Router::add(const std::string& method, const std::string& pattern, RouteOptions options, RouteHandler handler) {
  routes_.push_back(Route{method, split_path(pattern), std::move(options), std::move(handler)});
}

namespace {

// The path from the "/" before its (count+1)th non-empty segment on; "" when it has no more.
std::string path_after_segments(const std::string& path, std::size_t count) {
  std::size_t pos = 0;
  for (std::size_t seen = 0; seen < count; ++seen) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    while (pos < path.size() && path[pos] != '/') ++pos;
  }
  return path.substr(pos);
}

}  // namespace

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match result;
  auto segments = split_path(path);
  for (const auto& route : routes_) {
    bool rest = !route.segments.empty() && route.segments.back().starts_with("*");
    std::size_t fixed = rest ? route.segments.size() - 1 : route.segments.size();
    if (rest ? segments.size() < fixed : segments.size() != fixed) continue;
    std::map<std::string, std::string> params;
    if (rest) params[route.segments.back().substr(1)] = path_after_segments(path, fixed);
    bool ok = true;
    for (std::size_t i = 0; i < fixed && ok; ++i) {
      const auto& want = route.segments[i];
      if (!want.empty() && want[0] == ':')
        params[want.substr(1)] = segments[i];
      else
        ok = want == segments[i];
    }
    if (!ok) continue;
    // Literal routes are registered before parameterised ones where both could match.
    if (route.method == method) {
      result.route = &route;
      result.params = std::move(params);
      return result;
    }
    result.other_method_matched = true;
  }
  return result;
}

}  // namespace kontena::master
