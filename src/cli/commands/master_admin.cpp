// kontena master audit-log and kontena master config ... (master_admin).
#include <fstream>
#include <sstream>

#include "cli/commands/audit_log.h"
#include "cli/commands/common.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

void print_audit_log(std::ostream& out, const json& answer) {
  Table table({"TIME", "USER", "GRID", "RESOURCE", "EVENT", "STATUS", "SOURCE"});
  for (const auto& entry : answer.value("logs", json::array())) {
    std::string resource = field_text(entry, "resource_type", "");
    const std::string resource_name = field_text(entry, "resource_name", field_text(entry, "resource_id", ""));
    if (!resource_name.empty()) resource += (resource.empty() ? "" : ":") + resource_name;
    std::string status = field_text(entry, "event_status");
    if (entry.contains("http_status") && entry["http_status"].is_number() && entry["http_status"].get<int>() >= 400)
      status += " (" + entry["http_status"].dump() + ")";
    const json user = entry.value("user_identity", json::object());
    table.add_row({format_time(field_text(entry, "time")), field_text(user, "email"), field_text(entry, "grid"),
                   resource.empty() ? "-" : resource, field_text(entry, "event_name"), status,
                   field_text(entry, "source_ip")});
  }
  table.print(out);
}

namespace {

void add_audit_log(CLI::App& master, Context& ctx) {
  struct Options {
    int limit = 0;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* audit = master.add_subcommand("audit-log", "Show the master's audit log, newest first (master_admin)");
  audit->add_option("-l,--limit", options->limit, "Number of entries (1..3000; the master's default is 500)")
      ->check(CLI::Range(1, 3000));
  add_json_flag(audit, options->json);
  audit->callback([&ctx, options] {
    std::string path = "/v1/audit_logs";
    if (options->limit > 0) path += "?limit=" + std::to_string(options->limit);
    const json answer = ctx.api().get(path);
    if (options->json) return print_json(ctx.out(), answer);
    print_audit_log(ctx.out(), answer);
  });
}

void add_config(CLI::App& master, Context& ctx) {
  CLI::App* config = add_group(master, ctx, "config", "The master's configuration keys (master_admin)");

  auto get_key = std::make_shared<std::string>();
  CLI::App* get = config->add_subcommand("get", "Print the value of a key");
  get->add_option("KEY", *get_key, "Configuration key")->required();
  get->callback([&ctx, get_key] {
    const json answer = ctx.api().get("/v1/config/" + encode_path_segment(*get_key));
    ctx.out() << field_text(answer, get_key->c_str(), "") << "\n";
  });

  auto assignments = std::make_shared<std::vector<std::string>>();
  CLI::App* set = config->add_subcommand("set", "Set keys: KEY=VALUE...");
  set->add_option("KEY=VALUE", *assignments, "Assignments")->required();
  set->callback([&ctx, assignments] { ctx.api().patch("/v1/config", config_set_body(*assignments)); });

  auto keys = std::make_shared<std::vector<std::string>>();
  CLI::App* unset = config->add_subcommand("unset", "Remove keys");
  unset->add_option("KEY", *keys, "Configuration keys")->required();
  unset->callback([&ctx, keys] { ctx.api().patch("/v1/config", config_unset_body(*keys)); });

  CLI::App* dump = config->add_subcommand("dump", "Print the whole configuration as JSON")->alias("export");
  dump->callback([&ctx] { print_json(ctx.out(), ctx.api().get("/v1/config")); });

  struct LoadOptions {
    std::string file;
    bool full = false;
  };
  auto load_options = std::make_shared<LoadOptions>();
  CLI::App* load = config->add_subcommand("load", "Merge keys from a JSON file (- for stdin) into the configuration")
                       ->alias("import");
  load->add_option("FILE", load_options->file, "JSON object of keys and values")->required();
  load->add_flag("--full", load_options->full, "Replace the whole configuration instead of merging");
  load->callback([&ctx, load_options] {
    std::stringstream text;
    if (load_options->file == "-") {
      text << ctx.in().rdbuf();
    } else {
      std::ifstream file(load_options->file);
      if (!file) throw Error(ErrorKind::invalid, "cannot read " + load_options->file, "FILE");
      text << file.rdbuf();
    }
    const json document = json::parse(text.str(), nullptr, false);
    if (!document.is_object())
      throw Error(ErrorKind::invalid, load_options->file + " must contain a JSON object of keys and values", "FILE");
    if (load_options->full) ctx.api().put("/v1/config", document);
    else ctx.api().patch("/v1/config", document);
  });
}

}  // namespace

void register_master_admin_commands(CLI::App& master, Context& ctx) {
  add_audit_log(master, ctx);
  add_config(master, ctx);
}

}  // namespace kontena::cli
