#include "common/error.h"

namespace kontena {

int http_status(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid: return 422;
    case ErrorKind::bad_request: return 400;
    case ErrorKind::unauthorized: return 401;
    case ErrorKind::forbidden: return 403;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::too_large: return 413;
    case ErrorKind::rate_limited: return 429;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid: return "invalid";
    case ErrorKind::bad_request: return "bad_request";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::forbidden: return "forbidden";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::too_large: return "too_large";
    case ErrorKind::rate_limited: return "rate_limited";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

ErrorKind kind_from_http_status(int status) noexcept {
  switch (status) {
    case 400: return ErrorKind::bad_request;
    case 401: return ErrorKind::unauthorized;
    case 403: return ErrorKind::forbidden;
    case 404: return ErrorKind::not_found;
    case 409: return ErrorKind::conflict;
    case 413: return ErrorKind::too_large;
    case 429: return ErrorKind::rate_limited;
    case 422: return ErrorKind::invalid;
    case 503: return ErrorKind::unavailable;
    default: return status >= 400 && status < 500 ? ErrorKind::invalid : ErrorKind::internal;
  }
}

}  // namespace kontena
