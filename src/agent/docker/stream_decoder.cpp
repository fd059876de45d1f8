#include "agent/docker/stream_decoder.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/error.h"

namespace kontena::agent::docker {
namespace {

[[noreturn]] void bad_http(const std::string& what) {
  fail(ErrorKind::internal, "malformed HTTP response from the Docker Engine: " + what);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// For error messages: at most 60 characters, control bytes escaped.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 60)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 60) out += "...";
  return out;
}

bool is_token_char(unsigned char c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpResponseParser

std::string HttpResponseParser::header(const std::string& lowercase_name) const {
  auto it = headers_.find(lowercase_name);
  return it == headers_.end() ? std::string() : it->second;
}

// Collects bytes up to a '\n' into line_ (without "\r\n"). False when more input is needed.
bool HttpResponseParser::take_line(std::string_view& data, std::size_t limit, const char* what) {
  auto nl = data.find('\n');
  std::size_t take = nl == std::string_view::npos ? data.size() : nl;
  if (line_.size() + take > limit) bad_http(std::string(what) + " longer than " + std::to_string(limit) + " bytes");
  line_.append(data.substr(0, take));
  if (nl == std::string_view::npos) {
    data.remove_prefix(data.size());
    return false;
  }
  data.remove_prefix(nl + 1);
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  return true;
}

void HttpResponseParser::feed(std::string_view data, std::string& body) {
  while (!data.empty()) {
    switch (state_) {
      case State::status_line:
      case State::headers: {
        // header_bytes_ counts every byte taken so far, the partial line_ included.
        std::size_t before = data.size();
        std::size_t completed = header_bytes_ - line_.size();
        bool got = take_line(data, kMaxHeaderBytes - std::min(completed, kMaxHeaderBytes), "response header section");
        header_bytes_ += before - data.size();
        if (!got) return;
        if (state_ == State::status_line) {
          on_status_line();
        } else if (line_.empty()) {
          on_headers_end();
        } else {
          on_header_line();
        }
        line_.clear();
        break;
      }
      case State::body_length:
      case State::chunk_data: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
        body.append(data.substr(0, n));
        data.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = state_ == State::body_length ? State::done : State::chunk_end;
        break;
      }
      case State::body_close:
        body.append(data);
        return;
      case State::chunk_size:
        if (!take_line(data, kMaxChunkLine, "chunk size line")) return;
        on_chunk_size_line();
        line_.clear();
        break;
      case State::chunk_end:
        if (!take_line(data, kMaxChunkLine, "chunk terminator")) return;
        if (!line_.empty()) bad_http("chunk data not followed by CRLF (got \"" + printable(line_) + "\")");
        state_ = State::chunk_size;
        break;
      case State::trailers: {
        std::size_t before = data.size();
        std::size_t completed = header_bytes_ - line_.size();
        bool got = take_line(data, kMaxHeaderBytes - std::min(completed, kMaxHeaderBytes), "response header section");
        header_bytes_ += before - data.size();
        if (!got) return;
        if (line_.empty()) state_ = State::done;
        line_.clear();
        break;
      }
      case State::done:
        return;
    }
  }
}

void HttpResponseParser::on_status_line() {
  // HTTP/1.1 200 OK
  std::string_view l(line_);
  if (l.size() < 12 || l.substr(0, 7) != "HTTP/1." || !std::isdigit(static_cast<unsigned char>(l[7])) || l[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(l[9])) || !std::isdigit(static_cast<unsigned char>(l[10])) ||
      !std::isdigit(static_cast<unsigned char>(l[11])) || (l.size() > 12 && l[12] != ' ')) {
    bad_http("bad status line \"" + printable(l) + "\"");
  }
  status_ = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
  if (status_ < 100) bad_http("bad status code in \"" + printable(l) + "\"");
  reason_ = l.size() > 13 ? std::string(l.substr(13)) : std::string();
  state_ = State::headers;
}

void HttpResponseParser::on_header_line() {
  std::string_view l(line_);
  auto colon = l.find(':');
  if (colon == std::string_view::npos || colon == 0) bad_http("bad header line \"" + printable(l) + "\"");
  std::string_view name = l.substr(0, colon);
  for (unsigned char c : name) {
    if (!is_token_char(c)) bad_http("bad header name in \"" + printable(l) + "\"");
  }
  std::string key = lower(name);
  std::string value(trim(l.substr(colon + 1)));
  auto [it, inserted] = headers_.emplace(key, value);
  if (!inserted) it->second += ", " + value;
}

void HttpResponseParser::on_headers_end() {
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    // Interim response (100 Continue): the real one follows.
    headers_.clear();
    status_ = 0;
    reason_.clear();
    state_ = State::status_line;
    return;
  }
  std::string te = lower(header("transfer-encoding"));
  std::string cl = header("content-length");
  if (status_ == 204 || status_ == 304 || status_ == 101) {
    state_ = State::done;
  } else if (!te.empty()) {
    if (te.find("chunked") == std::string::npos) bad_http("unsupported Transfer-Encoding \"" + printable(te) + "\"");
    chunked_ = true;
    state_ = State::chunk_size;
  } else if (!cl.empty()) {
    if (cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), [](unsigned char c) { return std::isdigit(c); })) {
      bad_http("bad Content-Length \"" + printable(cl) + "\"");
    }
    remaining_ = std::stoull(cl);
    state_ = remaining_ == 0 ? State::done : State::body_length;
  } else {
    state_ = State::body_close;
  }
}

void HttpResponseParser::on_chunk_size_line() {
  std::string_view l(line_);
  auto semi = l.find(';');
  if (semi != std::string_view::npos) l = l.substr(0, semi);
  l = trim(l);
  if (l.empty()) bad_http("empty chunk size line");
  if (l.size() > 15) bad_http("chunk size \"" + printable(l) + "\" too large");
  std::uint64_t size = 0;
  for (unsigned char c : l) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      bad_http("bad chunk size \"" + printable(line_) + "\"");
    }
    size = size * 16 + static_cast<std::uint64_t>(v);
  }
  remaining_ = size;
  state_ = size == 0 ? State::trailers : State::chunk_data;
}

void HttpResponseParser::eof() {
  if (state_ == State::body_close) state_ = State::done;
  if (state_ == State::done) return;
  if (state_ == State::status_line && header_bytes_ == 0) {
    fail(ErrorKind::internal, "the Docker Engine closed the connection without answering");
  }
  fail(ErrorKind::internal, "the Docker Engine closed the connection in the middle of a response");
}

// ---------------------------------------------------------------------------------------------
// MuxDecoder

void MuxDecoder::feed(std::string_view data, const Sink& sink) {
  while (!data.empty()) {
    if (remaining_ == 0) {
      std::size_t n = std::min<std::size_t>(8 - header_len_, data.size());
      std::memcpy(header_ + header_len_, data.data(), n);
      header_len_ += n;
      data.remove_prefix(n);
      if (header_len_ < 8) return;
      header_len_ = 0;
      if (header_[0] > 2 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
        std::string shown = printable(std::string_view(reinterpret_cast<const char*>(header_), 8));
        fail(ErrorKind::internal, "invalid frame header in the Docker Engine's multiplexed stream (\"" + shown +
                                      "\"): expected a stream type 0-2 and three zero bytes; is the container a TTY?");
      }
      stream_ = header_[0] == 2 ? 2 : 1;
      remaining_ = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                   (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
      if (remaining_ > max_frame_) {
        std::uint32_t len = remaining_;
        remaining_ = 0;
        fail(ErrorKind::internal, "frame of " + std::to_string(len) +
                                      " bytes in the Docker Engine's multiplexed stream exceeds the limit of " +
                                      std::to_string(max_frame_) + " bytes");
      }
      continue;
    }
    std::size_t n = std::min<std::size_t>(remaining_, data.size());
    sink(stream_, data.substr(0, n));
    data.remove_prefix(n);
    remaining_ -= static_cast<std::uint32_t>(n);
  }
}

void MuxDecoder::finish() const {
  if (header_len_ > 0) fail(ErrorKind::internal, "the Docker Engine's multiplexed stream ended inside a frame header");
  if (remaining_ > 0) {
    fail(ErrorKind::internal, "the Docker Engine's multiplexed stream ended inside a frame (" +
                                  std::to_string(remaining_) + " bytes missing)");
  }
}

// ---------------------------------------------------------------------------------------------
// LineSplitter

void LineSplitter::emit(std::string_view line, const Sink& sink) {
  if (strip_cr_ && !line.empty() && line.back() == '\r') line.remove_suffix(1);
  sink(line);
}

void LineSplitter::feed(std::string_view data, const Sink& sink) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    std::string_view piece = nl == std::string_view::npos ? data : data.substr(0, nl);
    // Too long: pass on max_line_ bytes as a line of their own.
    while (partial_.size() + piece.size() > max_line_) {
      std::size_t n = max_line_ - partial_.size();
      if (partial_.empty()) {
        sink(piece.substr(0, n));
      } else {
        partial_.append(piece.substr(0, n));
        sink(partial_);
        partial_.clear();
      }
      piece.remove_prefix(n);
    }
    if (nl == std::string_view::npos) {
      partial_.append(piece);
      return;
    }
    if (partial_.empty()) {
      emit(piece, sink);
    } else {
      partial_.append(piece);
      std::string line;
      line.swap(partial_);
      emit(line, sink);
    }
    data.remove_prefix(nl + 1);
  }
}

void LineSplitter::flush(const Sink& sink) {
  if (partial_.empty()) return;
  std::string line;
  line.swap(partial_);
  emit(line, sink);
}

// ---------------------------------------------------------------------------------------------
// LogDecoder

LogDecoder::LogDecoder(bool tty, bool timestamps, std::size_t max_line)
    : tty_(tty), timestamps_(timestamps), out_(max_line, tty), err_(max_line, tty) {}

void LogDecoder::line(const char* stream, std::string_view text, const Sink& sink) const {
  LogLine l;
  l.stream = stream;
  if (timestamps_) {
    split_timestamp(text, l.time, l.data);
  } else {
    l.data.assign(text);
  }
  sink(l);
}

void LogDecoder::feed(std::string_view data, const Sink& sink) {
  auto to_out = [&](std::string_view line) { this->line("stdout", line, sink); };
  auto to_err = [&](std::string_view line) { this->line("stderr", line, sink); };
  if (tty_) {
    out_.feed(data, to_out);
    return;
  }
  mux_.feed(data, [&](int stream, std::string_view payload) {
    if (stream == 2) {
      err_.feed(payload, to_err);
    } else {
      out_.feed(payload, to_out);
    }
  });
}

void LogDecoder::finish(const Sink& sink) {
  out_.flush([&](std::string_view line) { this->line("stdout", line, sink); });
  err_.flush([&](std::string_view line) { this->line("stderr", line, sink); });
  if (!tty_) mux_.finish();
}

void split_timestamp(std::string_view line, std::string& time, std::string& text) {
  // 2026-01-02T03:04:05.123456789Z or with an offset; at most 40 characters before the space.
  auto sp = line.find(' ');
  bool looks = line.size() >= 20 && std::isdigit(static_cast<unsigned char>(line[0])) && line[4] == '-' &&
               line[10] == 'T' && (sp == std::string_view::npos ? line.size() <= 40 : sp <= 40);
  if (!looks) {
    time.clear();
    text.assign(line);
    return;
  }
  if (sp == std::string_view::npos) {
    time.assign(line);
    text.clear();
  } else {
    time.assign(line.substr(0, sp));
    text.assign(line.substr(sp + 1));
  }
}

// ---------------------------------------------------------------------------------------------
// JsonLinesDecoder

void JsonLinesDecoder::parse(std::string_view line, const Sink& sink) const {
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
  if (line.empty()) return;
  Json j = Json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) {
    fail(ErrorKind::internal, "the Docker Engine sent a line that is not JSON: \"" + printable(line) + "\"");
  }
  sink(j);
}

void JsonLinesDecoder::feed(std::string_view data, const Sink& sink) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    std::string_view piece = nl == std::string_view::npos ? data : data.substr(0, nl);
    if (partial_.size() + piece.size() > max_) {
      partial_.clear();
      fail(ErrorKind::internal,
           "the Docker Engine sent a JSON document longer than " + std::to_string(max_) + " bytes");
    }
    if (nl == std::string_view::npos) {
      partial_.append(piece);
      return;
    }
    if (partial_.empty()) {
      parse(piece, sink);
    } else {
      partial_.append(piece);
      std::string line;
      line.swap(partial_);
      parse(line, sink);
    }
    data.remove_prefix(nl + 1);
  }
}

void JsonLinesDecoder::finish(const Sink& sink) {
  std::string line;
  line.swap(partial_);
  parse(line, sink);
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // No overlong forms, no surrogates, nothing above U+10FFFF.
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace kontena::agent::docker
