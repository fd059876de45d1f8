// What the master accepts as a service spec and a stack definition (docs/api/stacks-services.md,
// docs/stack-file.md "Service keys and the normalised form"). The CLI sends what load_stack()
// normalised; the master checks it again, key by key, before anything is stored. Every check
// throws kontena::Error (invalid, 422) whose field() is the JSON path of the offending value,
// e.g. "services[1].ports[0].node_port" (a stack) or "ports[0].node_port" (a stack-less service).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kontena::master {

// The normalised spec of a service with nothing given but its name: the stack-file defaults
// (instances 1, deploy {strategy ha, min_health 0.8, ...}, stop_grace_period 10, every list empty).
nlohmann::json default_service_spec(const std::string& name);

// Checks every key of `spec` (unknown keys, types, ranges) and returns the complete normalised
// spec: missing keys take their defaults, `image` gets ":latest" when it has no tag or digest.
// `image` is required; `name` must be a valid service name. `prefix` is put before field paths.
nlohmann::json normalise_service_spec(const nlohmann::json& spec, const std::string& prefix = "");

// Stack and service names: [a-z0-9-]+, not starting with '-', at most 63 characters; a stack is
// never called "null". `what` is "stack" or "service".
void validate_resource_name(const std::string& field, const std::string& what, const std::string& name);

// A link's target: "svc" is a service of the linking service's own stack, "stack/svc" one of
// another stack ("null/svc": a stack-less service).
struct LinkTarget {
  std::string stack;
  std::string service;
};
LinkTarget link_target(const std::string& own_stack, const std::string& link_name);

// The top-level keys whose values differ between two normalised specs (sorted).
std::vector<std::string> changed_spec_fields(const nlohmann::json& before, const nlohmann::json& after);
// Whether a change of these fields asks for a new service revision (containers recreated): any
// field but `instances` (scaling adds or removes instances, it does not recreate them).
bool spec_change_needs_revision(const std::vector<std::string>& fields);

// Limits on a service that depend on where it lives: <service>-<n>.<stack>.<grid>.kontena.local
// (stack "null": <service>-<n>.<grid>.kontena.local) at most 64 characters for n = instances,
// environment (env + secrets) at most 128 KiB.
void check_service_limits(const nlohmann::json& spec, const std::string& stack, const std::string& grid,
                          const std::string& prefix = "");

// What checking a stack definition needs from outside.
struct StackCheckContext {
  std::string grid;
  // Whether `service` exists in stack `stack` of the grid (links to other stacks).
  std::function<bool(const std::string& stack, const std::string& service)> service_exists;
};

// Checks a StackDefinition (keys of load_stack()'s output; unknown keys are refused) and returns
// it normalised: every service through normalise_service_spec, defaults for missing keys
// (stack = name, version "0.0.1", empty lists). Also: service names unique, links and depends_on
// name a service of this stack or an existing "stack/svc", no cycle among the stack's links,
// `expose` names a service, named volumes are declared, check_service_limits for each service.
nlohmann::json normalise_stack_definition(const nlohmann::json& definition, const StackCheckContext& context);

}  // namespace kontena::master
