// Pure, incremental parsers for what the Docker Engine sends back (no I/O, no threads):
//   HttpResponseParser  an HTTP/1.1 response: status line, headers, and a body that is chunked,
//                       Content-Length delimited or delimited by the end of the connection;
//   MuxDecoder          Docker's multiplexed stdout/stderr framing (8-byte header: stream type,
//                       three zero bytes, big-endian uint32 length);
//   LineSplitter        bytes -> lines, keeping a partial line until its end arrives (bounded);
//   LogDecoder          a container's log output (multiplexed or raw TTY) -> LogLine;
//   JsonLinesDecoder    newline-separated JSON documents (events, pull progress, stats).
// Every feed() accepts any split of the input (a byte at a time works). Malformed input throws
// kontena::Error(internal) with a message that says what was wrong; sizes are bounded.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "agent/docker/docker_client.h"

namespace kontena::agent::docker {

class HttpResponseParser {
 public:
  static constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr std::size_t kMaxChunkLine = 4096;

  // Consumes all of `data`; decoded body bytes are appended to `body`. Bytes after the end of the
  // response are ignored (the connection is not reused).
  void feed(std::string_view data, std::string& body);
  // The peer closed the connection: ends a body delimited by the close, throws when the response
  // is incomplete.
  void eof();

  bool headers_done() const { return state_ > State::headers; }
  bool complete() const { return state_ == State::done; }
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  // Lowercase header name -> value (repeated headers joined with ", ").
  const std::map<std::string, std::string>& headers() const { return headers_; }
  std::string header(const std::string& lowercase_name) const;
  bool chunked() const { return chunked_; }

 private:
  enum class State { status_line, headers, body_length, body_close, chunk_size, chunk_data, chunk_end, trailers, done };
  bool take_line(std::string_view& data, std::size_t limit, const char* what);
  void on_status_line();
  void on_header_line();
  void on_headers_end();
  void on_chunk_size_line();

  State state_ = State::status_line;
  std::string line_;
  std::size_t header_bytes_ = 0;
  int status_ = 0;
  std::string reason_;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false;
  std::uint64_t remaining_ = 0;  // body_length / chunk_data
};

class MuxDecoder {
 public:
  // A frame longer than this is taken as garbage (e.g. a TTY stream read as multiplexed).
  static constexpr std::uint32_t kDefaultMaxFrame = 64u * 1024 * 1024;
  // stream: 1 = stdout, 2 = stderr (0 = stdin, reported as stdout). Payloads may arrive in pieces.
  using Sink = std::function<void(int stream, std::string_view payload)>;

  explicit MuxDecoder(std::uint32_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}
  void feed(std::string_view data, const Sink& sink);
  // End of input: throws when it ends inside a frame.
  void finish() const;
  bool in_frame() const { return header_len_ > 0 || remaining_ > 0; }

 private:
  std::uint32_t max_frame_;
  unsigned char header_[8] = {};
  std::size_t header_len_ = 0;
  int stream_ = 1;
  std::uint32_t remaining_ = 0;
};

class LineSplitter {
 public:
  static constexpr std::size_t kDefaultMaxLine = 1024 * 1024;
  using Sink = std::function<void(std::string_view line)>;

  // strip_cr: drop a '\r' before the '\n' (TTY output). A line longer than max_line is passed on
  // in pieces of max_line bytes.
  explicit LineSplitter(std::size_t max_line = kDefaultMaxLine, bool strip_cr = false)
      : max_line_(max_line), strip_cr_(strip_cr) {}
  void feed(std::string_view data, const Sink& sink);
  // End of input: passes on a last line that had no '\n'.
  void flush(const Sink& sink);
  std::size_t pending() const { return partial_.size(); }

 private:
  void emit(std::string_view line, const Sink& sink);
  std::size_t max_line_;
  bool strip_cr_;
  std::string partial_;
};

class LogDecoder {
 public:
  using Sink = std::function<void(const LogLine&)>;
  // tty: the container has a TTY, so the stream is raw (all of it stdout); else multiplexed.
  // timestamps: each line starts with Docker's RFC 3339 time and a space.
  LogDecoder(bool tty, bool timestamps, std::size_t max_line = LineSplitter::kDefaultMaxLine);
  void feed(std::string_view data, const Sink& sink);
  void finish(const Sink& sink);

 private:
  void line(const char* stream, std::string_view text, const Sink& sink) const;
  bool tty_;
  bool timestamps_;
  MuxDecoder mux_;
  LineSplitter out_;
  LineSplitter err_;
};

class JsonLinesDecoder {
 public:
  static constexpr std::size_t kDefaultMaxDocument = 16 * 1024 * 1024;
  using Sink = std::function<void(const Json&)>;
  explicit JsonLinesDecoder(std::size_t max_document = kDefaultMaxDocument) : max_(max_document) {}
  void feed(std::string_view data, const Sink& sink);
  void finish(const Sink& sink);

 private:
  void parse(std::string_view line, const Sink& sink) const;
  std::size_t max_;
  std::string partial_;
};

// Splits "2026-01-02T03:04:05.123456789Z text" into time and text when it starts with a time.
void split_timestamp(std::string_view line, std::string& time, std::string& text);

// `s` with every byte sequence that is not valid UTF-8 replaced by U+FFFD, so that it can go into
// JSON (a container's output is arbitrary bytes; nlohmann::json refuses to dump invalid UTF-8).
std::string valid_utf8(std::string_view s);

// Percent-encoding for a query parameter value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

}  // namespace kontena::agent::docker
