#include "cli/commands/workload.h"

#include <atomic>
#include <csignal>
#include <thread>

#include "cli/commands/common.h"
#include "cli/output.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

std::atomic<bool> g_interrupted{false};
PollSleeper g_sleeper;

extern "C" void on_sigint(int) { g_interrupted.store(true); }

std::string text_of(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "";
  const json& value = object[key];
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// "web" of "shop/web", "null/web" or "web".
std::string short_service_name(const std::string& service) {
  const auto slash = service.rfind('/');
  return slash == std::string::npos ? service : service.substr(slash + 1);
}

// "shop/web" as given, "web" for a stack-less "null/web".
std::string service_label(const std::string& service) {
  const std::string prefix = std::string(kNullStack) + "/";
  return service.rfind(prefix, 0) == 0 ? service.substr(prefix.size()) : service;
}

bool finished(const std::string& state) {
  return state == "success" || state == "error" || state == "aborted";
}

[[noreturn]] void stop_following(std::ostream& progress, const std::string& what, const std::string& hint) {
  progress << "interrupted: stopped following " << what << "; it continues on the master (" << hint << ")"
           << std::endl;
  throw ExitStatus(130);
}

// GET with a few retries when the master cannot be reached for a moment (it may be restarting).
json poll_get(Context& ctx, const std::string& path, int& failures) {
  for (;;) {
    try {
      json answer = ctx.api().get(path);
      failures = 0;
      return answer;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::unavailable || ++failures > kFollowRetries) throw;
      poll_sleep(kDeployPollInterval);
      if (follow_interrupted()) throw;
    }
  }
}

std::string elapsed_text(Context& ctx, std::int64_t started_ms) {
  const double seconds = static_cast<double>(ctx.clock().now_unix_ms() - started_ms) / 1000.0;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
  return buffer;
}

void check_follow_limit(Context& ctx, std::int64_t started_ms, const std::string& what) {
  if (ctx.clock().now_unix_ms() - started_ms > std::chrono::duration_cast<std::chrono::milliseconds>(kFollowLimit).count())
    throw Error(ErrorKind::unavailable, "gave up following " + what + " after " +
                                            std::to_string(kFollowLimit.count()) + " minutes; it may still be running");
}

}  // namespace

void check_name(const std::string& name, const std::string& what) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorKind::invalid, "invalid " + what + " name \"" + name + "\": " + why, "name");
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > 63) bad("at most 63 characters");
  if (name.front() == '-') bad("it may not start with '-'");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      bad("use lowercase letters, digits and '-'");
  if (what == "stack" && name == kNullStack) bad("\"null\" is reserved for stack-less services");
}

std::string stack_path(const std::string& grid, const std::string& stack) {
  return "/v1/stacks/" + encode_path_segment(grid) + "/" + encode_path_segment(stack);
}

std::string ServiceRef::display() const { return stack == kNullStack ? name : stack + "/" + name; }

ServiceRef parse_service_ref(const std::string& text, const std::string& default_grid) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto slash = text.find('/', start);
    parts.push_back(text.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (text.empty() || parts.size() > 3)
    throw Error(ErrorKind::invalid,
                "invalid service \"" + text + "\": expected SERVICE, STACK/SERVICE or GRID/STACK/SERVICE", "service");
  ServiceRef ref;
  ref.grid = default_grid;
  ref.name = parts.back();
  if (parts.size() >= 2) ref.stack = parts[parts.size() - 2];
  if (parts.size() == 3) ref.grid = parts[0];
  check_name(ref.name, "service");
  if (ref.stack != kNullStack) check_name(ref.stack, "stack");
  if (ref.grid.empty()) throw no_grid_error();
  return ref;
}

std::string service_path(const ServiceRef& ref) {
  return "/v1/services/" + encode_path_segment(ref.grid) + "/" + encode_path_segment(ref.stack) + "/" +
         encode_path_segment(ref.name);
}

std::string service_display_name(const json& service) {
  std::string stack = text_of(service, "stack");
  const std::string name = text_of(service, "name");
  if (stack.empty() || stack == kNullStack) return name;
  return stack + "/" + name;
}

void set_poll_sleeper(PollSleeper sleeper) { g_sleeper = std::move(sleeper); }

void poll_sleep(std::chrono::milliseconds duration) {
  if (g_sleeper) return g_sleeper(duration);
  const auto slice = std::chrono::milliseconds(50);
  while (duration.count() > 0 && !follow_interrupted()) {
    const auto step = std::min(duration, slice);
    std::this_thread::sleep_for(step);
    duration -= step;
  }
}

namespace {
using SigHandler = void (*)(int);
SigHandler g_previous_handler = SIG_DFL;
int g_scope_depth = 0;
}  // namespace

FollowScope::FollowScope() {
  if (g_scope_depth++ == 0) {
    g_interrupted.store(false);
    g_previous_handler = std::signal(SIGINT, on_sigint);
  }
}

FollowScope::~FollowScope() {
  if (--g_scope_depth == 0) {
    std::signal(SIGINT, g_previous_handler == SIG_ERR ? SIG_DFL : g_previous_handler);
    g_interrupted.store(false);
  }
}

bool follow_interrupted() { return g_interrupted.load(); }
void request_follow_interrupt() { g_interrupted.store(true); }

void DeployPrinter::service_deploy(const json& service_deploy) {
  if (!service_deploy.is_object()) return;
  const std::string service = short_service_name(text_of(service_deploy, "service"));
  const std::string id = text_of(service_deploy, "id");
  const std::string state = text_of(service_deploy, "state");
  const json instances = service_deploy.value("instances", json::array());
  const std::size_t total = instances.is_array() ? instances.size() : 0;
  const std::string service_key = "deploy " + id;
  if (state == "ongoing" && seen_[service_key].empty()) {
    seen_[service_key] = state;
    out_ << "deploying service " << service_label(text_of(service_deploy, "service")) << " (" << total << " instance"
         << (total == 1 ? "" : "s") << ")" << std::endl;
  }
  if (instances.is_array()) {
    for (const auto& instance : instances) {
      const std::string number = text_of(instance, "instance_number");
      const std::string node = text_of(instance, "node");
      const std::string instance_state = text_of(instance, "state");
      const std::string error = text_of(instance, "error");
      const std::string key = id + "/" + number;
      const std::string value = instance_state + "|" + node + "|" + error;
      if (seen_[key] == value) continue;
      seen_[key] = value;
      out_ << " [" << number << "/" << total << "] " << service << "-" << number << " on "
           << (node.empty() ? "(no node)" : node) << " " << (instance_state.empty() ? "pending" : instance_state);
      if (!error.empty()) out_ << ": " << error;
      out_ << std::endl;
    }
  }
  if (finished(state) && seen_[service_key] != state) {
    seen_[service_key] = state;
    if (state == "success") out_ << "service " << service_label(text_of(service_deploy, "service")) << " deployed" << std::endl;
  }
}

json follow_stack_deploy(Context& ctx, std::ostream& progress, const std::string& grid, const std::string& stack,
                         const json& deploy) {
  FollowScope scope;
  const std::string id = text_of(deploy, "id");
  if (id.empty()) throw Error(ErrorKind::internal, "the master's deploy answer has no id: " + deploy.dump());
  const std::string path = stack_path(grid, stack) + "/deploys/" + encode_path_segment(id);
  const std::string what = "the deploy of stack " + stack;
  const std::int64_t started = ctx.clock().now_unix_ms();
  DeployPrinter printer(progress);
  json current = deploy;
  int failures = 0;
  for (;;) {
    if (current.contains("service_deploys") && current["service_deploys"].is_array())
      for (const auto& service_deploy : current["service_deploys"]) printer.service_deploy(service_deploy);
    const std::string state = text_of(current, "state");
    if (state == "success") {
      progress << "deployed stack " << stack << " (revision " << text_of(current, "revision") << ") in "
               << elapsed_text(ctx, started) << std::endl;
      return current;
    }
    if (state == "error" || state == "aborted") {
      const std::string error = text_of(current, "error");
      throw Error(ErrorKind::unavailable,
                  "deploy of stack " + stack + " failed: " + (error.empty() ? "the master gave no reason" : error));
    }
    check_follow_limit(ctx, started, what);
    poll_sleep(kDeployPollInterval);
    if (follow_interrupted()) stop_following(progress, what, "see 'kontena stack show " + stack + "'");
    try {
      current = poll_get(ctx, path, failures);
    } catch (...) {
      if (follow_interrupted()) stop_following(progress, what, "see 'kontena stack show " + stack + "'");
      throw;
    }
  }
}

json follow_service_deploy(Context& ctx, std::ostream& progress, const ServiceRef& ref, const json& deploy) {
  FollowScope scope;
  const std::string id = text_of(deploy, "id");
  if (id.empty()) throw Error(ErrorKind::internal, "the master's deploy answer has no id: " + deploy.dump());
  const std::string path = service_path(ref) + "/deploys/" + encode_path_segment(id);
  const std::string what = "the deploy of service " + ref.display();
  const std::int64_t started = ctx.clock().now_unix_ms();
  DeployPrinter printer(progress);
  json current = deploy;
  int failures = 0;
  for (;;) {
    printer.service_deploy(current);
    const std::string state = text_of(current, "state");
    if (state == "success") {
      progress << "deployed service " << ref.display() << " in " << elapsed_text(ctx, started) << std::endl;
      return current;
    }
    if (state == "error" || state == "aborted") {
      const std::string error = text_of(current, "error");
      throw Error(ErrorKind::unavailable, "deploy of service " + ref.display() + " " +
                                              (state == "aborted" ? "was aborted" : "failed") + ": " +
                                              (error.empty() ? "the master gave no reason" : error));
    }
    check_follow_limit(ctx, started, what);
    poll_sleep(kDeployPollInterval);
    if (follow_interrupted()) stop_following(progress, what, "see 'kontena service show " + ref.display() + "'");
    try {
      current = poll_get(ctx, path, failures);
    } catch (...) {
      if (follow_interrupted()) stop_following(progress, what, "see 'kontena service show " + ref.display() + "'");
      throw;
    }
  }
}

void add_log_options(CLI::App* command, LogOptions& options) {
  command->add_option("-t,--tail,--lines", options.tail, "Number of lines to show (1..10000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  command->add_option("--since", options.since, "Show entries since this time (ISO-8601, e.g. 2026-11-26T10:00:00Z)");
  command->add_flag("-f,--follow", options.follow, "Keep printing new entries (Ctrl-C stops)");
  command->add_flag("--json", options.json, "Print each entry as one line of JSON");
}

namespace {

std::string query_value(const std::string& value) { return encode_path_segment(value); }

void print_entry(Context& ctx, const json& entry, bool events, bool as_json) {
  if (as_json) {
    ctx.out() << entry.dump() << "\n";
    return;
  }
  const std::string time = format_time(text_of(entry, "created_at"));
  if (events) {
    std::string where = text_of(entry, "service");
    const std::string stack = text_of(entry, "stack");
    if (!where.empty() && !stack.empty() && stack != kNullStack) where = stack + "/" + where;
    const std::string number = text_of(entry, "instance_number");
    if (!where.empty() && !number.empty()) where += "-" + number;
    const std::string node = text_of(entry, "node");
    ctx.out() << time << " " << text_of(entry, "type");
    if (!where.empty()) ctx.out() << " " << where;
    if (!node.empty()) ctx.out() << " (" << node << ")";
    ctx.out() << ": " << text_of(entry, "message") << "\n";
    return;
  }
  std::string data = text_of(entry, "data");
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  std::string container = text_of(entry, "container");
  if (container.empty()) container = text_of(entry, "service") + "-" + text_of(entry, "instance_number");
  ctx.out() << time << " " << container << ": " << data << "\n";
}

}  // namespace

void print_logs(Context& ctx, const std::string& path, const LogOptions& options, bool events) {
  if (!options.since.empty() && !parse_time(options.since))
    throw Error(ErrorKind::invalid, "--since \"" + options.since + "\" is not a time: use ISO-8601, e.g. 2026-11-26T10:00:00Z",
                "since");
  std::string query = "limit=" + std::to_string(options.tail);
  if (!options.since.empty()) query += "&since=" + query_value(options.since);
  if (options.instance > 0) query += "&instance=" + std::to_string(options.instance);
  const char* key = events ? "events" : "logs";
  std::string last_id;
  auto fetch = [&](const std::string& extra) {
    const json answer = ctx.api().get(path + "?" + query + extra);
    const json entries = answer.value(key, json::array());
    if (entries.is_array())
      for (const auto& entry : entries) {
        print_entry(ctx, entry, events, options.json);
        const std::string id = text_of(entry, "id");
        if (!id.empty()) last_id = id;
      }
    ctx.out().flush();
  };
  fetch("");
  if (!options.follow) return;
  FollowScope scope;
  for (;;) {
    poll_sleep(kLogPollInterval);
    if (follow_interrupted()) return;
    fetch(last_id.empty() ? "" : "&from=" + query_value(last_id));
  }
}

}  // namespace kontena::cli
