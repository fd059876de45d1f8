// The real DockerClient: Engine API v1.41 over the unix socket (see docker_client.h for the
// contract). make_engine_client() in docker_client.h is the way in; the helpers below are the
// pure parts of the implementation, exposed for the unit tests.
#pragma once
#include <string>
#include <utility>

#include "agent/docker/docker_client.h"
#include "common/error.h"

namespace kontena::agent::docker {

inline constexpr const char* kEngineApiVersion = "v1.41";

// The body of POST /containers/create for a spec (Config + HostConfig + NetworkingConfig).
Json container_create_body(const ContainerSpec& spec);

// The body of POST /networks/create for a spec (one IPAM pool: Subnet, Gateway, IPRange).
Json network_create_body(const NetworkSpec& spec);

// "busybox" -> {"busybox", "latest"}; "reg:5000/a/b:1.2" -> {"reg:5000/a/b", "1.2"};
// "a/b@sha256:..." -> {"a/b", "sha256:..."} (fromImage and tag of POST /images/create).
std::pair<std::string, std::string> split_image_reference(const std::string& image);

// The error for a Docker answer with status >= 400: Docker's {"message": ...} quoted.
// 404 -> not_found, 409 -> conflict, 400 -> invalid, 401/403 -> unauthorized/forbidden,
// 503 -> unavailable, 500 -> server_error_kind (internal unless the call says otherwise).
Error engine_error(int status, const std::string& body, const std::string& what,
                   ErrorKind server_error_kind = ErrorKind::internal);

// Docker's message from an error body ({"message": "..."}), else the body itself (trimmed).
std::string engine_message(const std::string& body);

// Whether a pull error message means the registry could not be reached (network errors).
bool is_registry_unreachable(const std::string& message);

// A container summary from one element of GET /containers/json.
ContainerSummary summary_from_json(const Json& j);

// label_filters ("k" or "k=v") -> the url-encoded filters query value ({"label":[...]}).
std::string label_filters_query(const std::vector<std::string>& label_filters);

}  // namespace kontena::agent::docker
