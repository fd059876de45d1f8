// Small helpers for reading JSON that comes from outside (Docker, iproute2, etcd): a missing,
// null or mistyped field reads as the fallback instead of throwing.
#pragma once
#include <nlohmann/json.hpp>

namespace kontena {

template <class T>
T json_value_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

}  // namespace kontena
