// The pure parsers of the Docker client: every input is also fed split at every byte offset
// (and a byte at a time); malformed input must give a clear kontena::Error, never a crash.
#include "agent/docker/stream_decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "docker_test_util.h"

using namespace kontena::agent::docker;
using namespace kontena::agent::docker::testing;
using kontena::Error;
using kontena::ErrorKind;

namespace {

std::string chunked(const std::vector<std::string>& chunks) {
  std::string out;
  char buf[32];
  for (const auto& c : chunks) {
    std::snprintf(buf, sizeof buf, "%zx", c.size());
    out += buf;
    out += "\r\n" + c + "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

// Feeds `wire` to a parser in the pieces given by the cut offsets; returns the decoded body.
struct HttpOutcome {
  int status = 0;
  std::string body;
  bool complete = false;
  std::map<std::string, std::string> headers;
};

HttpOutcome parse_http(const std::string& wire, const std::vector<std::size_t>& cuts, bool send_eof = true) {
  HttpResponseParser p;
  HttpOutcome o;
  std::size_t pos = 0;
  for (auto c : cuts) {
    p.feed(std::string_view(wire).substr(pos, c - pos), o.body);
    pos = c;
  }
  p.feed(std::string_view(wire).substr(pos), o.body);
  if (send_eof) p.eof();
  o.status = p.status();
  o.complete = p.complete();
  o.headers = p.headers();
  return o;
}

// Every split in two pieces, every split in three pieces around one offset, and a byte at a time.
template <class F>
void for_every_split(const std::string& wire, F check) {
  check(std::vector<std::size_t>{});
  for (std::size_t i = 0; i <= wire.size(); ++i) check(std::vector<std::size_t>{i});
  for (std::size_t i = 0; i + 1 <= wire.size(); ++i) check(std::vector<std::size_t>{i, std::min(wire.size(), i + 3)});
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < wire.size(); ++i) bytes.push_back(i);
  check(bytes);
}

template <class F>
std::string expect_error(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpResponseParser

TEST(HttpResponseParser, ContentLengthBodyAtEverySplit) {
  std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"ID\":\"abc\"}\n";
  for_every_split(wire, [&](const auto& cuts) {
    auto o = parse_http(wire, cuts, false);
    EXPECT_EQ(o.status, 200);
    EXPECT_TRUE(o.complete);
    EXPECT_EQ(o.body, "{\"ID\":\"abc\"}\n");
    EXPECT_EQ(o.headers["content-type"], "application/json");
  });
}

TEST(HttpResponseParser, ChunkedBodyAtEverySplit) {
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDocker-Experimental: false\r\n\r\n" +
                     chunked({"hello ", "chunked", std::string(1, '\n'), "world"});
  for_every_split(wire, [&](const auto& cuts) {
    auto o = parse_http(wire, cuts, false);
    EXPECT_TRUE(o.complete);
    EXPECT_EQ(o.body, "hello chunked\nworld");
  });
}

TEST(HttpResponseParser, ChunkExtensionsTrailersAndUppercaseHex) {
  std::string wire =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
      "A;name=value\r\n0123456789\r\n1a \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for_every_split(wire, [&](const auto& cuts) {
    auto o = parse_http(wire, cuts, false);
    EXPECT_TRUE(o.complete);
    EXPECT_EQ(o.body, "0123456789abcdefghijklmnopqrstuvwxyz");
  });
}

TEST(HttpResponseParser, BodyUntilCloseAndNoBodyStatuses) {
  std::string wire = "HTTP/1.0 200 OK\r\n\r\nall of it";
  for_every_split(wire, [&](const auto& cuts) {
    auto o = parse_http(wire, cuts);
    EXPECT_TRUE(o.complete);
    EXPECT_EQ(o.body, "all of it");
  });
  auto o = parse_http("HTTP/1.1 204 No Content\r\nServer: Docker\r\n\r\n", {}, false);
  EXPECT_TRUE(o.complete);
  EXPECT_EQ(o.status, 204);
  o = parse_http("HTTP/1.1 304 Not Modified\r\n\r\n", {}, false);
  EXPECT_TRUE(o.complete);
  o = parse_http("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {}, false);
  EXPECT_TRUE(o.complete);
}

TEST(HttpResponseParser, InterimContinueIsSkipped) {
  std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  for_every_split(wire, [&](const auto& cuts) {
    auto o = parse_http(wire, cuts, false);
    EXPECT_EQ(o.status, 201);
    EXPECT_EQ(o.body, "ok");
  });
}

TEST(HttpResponseParser, RepeatedHeadersAndWhitespace) {
  auto o = parse_http("HTTP/1.1 200 OK\r\nA:  x \r\na: y\r\nContent-Length: 0\r\n\r\n", {}, false);
  EXPECT_EQ(o.headers["a"], "x, y");
}

TEST(HttpResponseParser, BareLineFeedsAccepted) {
  auto o = parse_http("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", {}, false);
  EXPECT_TRUE(o.complete);
  EXPECT_EQ(o.body, "ok");
}

TEST(HttpResponseParser, MalformedInputGivesClearErrors) {
  auto msg = expect_error([] { parse_http("SSH-2.0-OpenSSH\r\n\r\n", {}); });
  EXPECT_NE(msg.find("bad status line"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 2x0 OK\r\n\r\n", {}); });
  EXPECT_NE(msg.find("bad status line"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", {}); });
  EXPECT_NE(msg.find("bad header line"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", {}); });
  EXPECT_NE(msg.find("bad header name"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", {}); });
  EXPECT_NE(msg.find("Content-Length"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", {}); });
  EXPECT_NE(msg.find("Transfer-Encoding"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}); });
  EXPECT_NE(msg.find("bad chunk size"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", {}); });
  EXPECT_NE(msg.find("empty chunk size"), std::string::npos) << msg;
  msg = expect_error(
      [] { parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", {}); });
  EXPECT_NE(msg.find("too large"), std::string::npos) << msg;
  msg = expect_error([] { parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n", {}); });
  EXPECT_NE(msg.find("not followed by CRLF"), std::string::npos) << msg;
}

TEST(HttpResponseParser, TruncatedResponsesFailAtEof) {
  auto msg = expect_error([] { parse_http("", {}); });
  EXPECT_NE(msg.find("without answering"), std::string::npos) << msg;
  std::string full = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked({"abc", "defg"});
  // Cut anywhere before the end: eof() must report an incomplete response.
  for (std::size_t i = 1; i < full.size(); ++i) {
    msg = expect_error([&] { parse_http(full.substr(0, i), {}); });
    EXPECT_NE(msg.find("closed the connection"), std::string::npos) << msg;
  }
  std::string cl = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  msg = expect_error([&] { parse_http(cl, {}); });
  EXPECT_NE(msg.find("in the middle"), std::string::npos) << msg;
}

TEST(HttpResponseParser, HeaderSectionIsBounded) {
  std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseParser::kMaxHeaderBytes, 'a');
  auto msg = expect_error([&] { parse_http(wire, {}); });
  EXPECT_NE(msg.find("longer than"), std::string::npos) << msg;
  // Many small headers count too.
  std::string many = "HTTP/1.1 200 OK\r\n";
  while (many.size() < HttpResponseParser::kMaxHeaderBytes + 100) many += "X-A: b\r\n";
  msg = expect_error([&] { parse_http(many, {}); });
  EXPECT_NE(msg.find("longer than"), std::string::npos) << msg;
}

TEST(HttpResponseParser, HeaderLimitCountsEachByteOnceWhateverTheSplit) {
  // One 60 KiB header line, fed 1 KiB at a time: within the 64 KiB limit.
  std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(60 * 1024, 'a') + "\r\nContent-Length: 2\r\n\r\nok";
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1024; i < big.size(); i += 1024) cuts.push_back(i);
  auto o = parse_http(big, cuts, false);
  EXPECT_TRUE(o.complete);
  EXPECT_EQ(o.headers["x-big"].size(), 60u * 1024);
  // Endless trailers are bounded too.
  std::string trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  while (trailers.size() < HttpResponseParser::kMaxHeaderBytes + 100) trailers += "X-T: 1\r\n";
  auto msg = expect_error([&] { parse_http(trailers, {}); });
  EXPECT_NE(msg.find("longer than"), std::string::npos) << msg;
}

TEST(HttpResponseParser, BytesAfterTheResponseAreIgnored) {
  auto o = parse_http("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", {}, false);
  EXPECT_EQ(o.body, "ok");
  EXPECT_TRUE(o.complete);
}

// ---------------------------------------------------------------------------------------------
// MuxDecoder

namespace {
struct Piece {
  int stream;
  std::string data;
};

// Decodes and merges consecutive pieces of the same stream.
std::vector<Piece> demux(const std::string& wire, const std::vector<std::size_t>& cuts, std::uint32_t max = MuxDecoder::kDefaultMaxFrame) {
  MuxDecoder d(max);
  std::vector<Piece> out;
  auto sink = [&](int s, std::string_view p) {
    if (!out.empty() && out.back().stream == s) {
      out.back().data.append(p);
    } else {
      out.push_back({s, std::string(p)});
    }
  };
  std::size_t pos = 0;
  for (auto c : cuts) {
    d.feed(std::string_view(wire).substr(pos, c - pos), sink);
    pos = c;
  }
  d.feed(std::string_view(wire).substr(pos), sink);
  d.finish();
  return out;
}
}  // namespace

TEST(MuxDecoder, FramesAtEverySplit) {
  std::string wire = frame(1, "out one\n") + frame(2, "err one\n") + frame(1, "") + frame(1, "out two\n") +
                     frame(0, "stdin\n") + frame(2, std::string(300, 'x'));
  for_every_split(wire, [&](const auto& cuts) {
    auto out = demux(wire, cuts);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].stream, 1);
    EXPECT_EQ(out[0].data, "out one\n");
    EXPECT_EQ(out[1].stream, 2);
    EXPECT_EQ(out[1].data, "err one\n");
    EXPECT_EQ(out[2].stream, 1);
    EXPECT_EQ(out[2].data, "out two\nstdin\n");
    EXPECT_EQ(out[3].stream, 2);
    EXPECT_EQ(out[3].data, std::string(300, 'x'));
  });
}

TEST(MuxDecoder, LargeFrameLengthUsesAllFourBytes) {
  std::string payload(70000, 'z');  // 0x00011170: needs the high bytes
  auto out = demux(frame(1, payload), {5, 9, 40000});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data.size(), payload.size());
}

TEST(MuxDecoder, BadHeadersGiveClearErrors) {
  // A TTY stream read as multiplexed: "hello wo" is not a header.
  auto msg = expect_error([] { demux("hello world\n", {}); });
  EXPECT_NE(msg.find("invalid frame header"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TTY"), std::string::npos) << msg;
  std::string bad = frame(1, "x");
  bad[2] = 1;
  msg = expect_error([&] { demux(bad, {}); });
  EXPECT_NE(msg.find("invalid frame header"), std::string::npos) << msg;
  std::string type3 = frame(3, "x");
  msg = expect_error([&] { demux(type3, {}); });
  EXPECT_NE(msg.find("stream type"), std::string::npos) << msg;
  // Every single-byte corruption of the zero bytes or the type is caught, at every split.
  std::string good = frame(2, "abc");
  for (int pos : {0, 1, 2, 3}) {
    std::string w = good;
    w[pos] = static_cast<char>(0x7f);
    for (std::size_t i = 0; i <= w.size(); ++i) expect_error([&] { demux(w, {i}); });
  }
}

TEST(MuxDecoder, HugeLengthsAreBounded) {
  std::string h = frame(1, "");
  h[4] = static_cast<char>(0xff);
  h[5] = static_cast<char>(0xff);
  h[6] = static_cast<char>(0xff);
  h[7] = static_cast<char>(0xff);
  auto msg = expect_error([&] { demux(h + "data", {}); });
  EXPECT_NE(msg.find("exceeds the limit"), std::string::npos) << msg;
  msg = expect_error([&] { demux(frame(1, std::string(100, 'a')), {}, 64); });
  EXPECT_NE(msg.find("exceeds the limit"), std::string::npos) << msg;
  EXPECT_NO_THROW(demux(frame(1, std::string(64, 'a')), {}, 64));
}

TEST(MuxDecoder, TruncatedStreamFailsAtFinish) {
  std::string w = frame(1, "abcdef");
  for (std::size_t i = 1; i < w.size(); ++i) {
    auto msg = expect_error([&] { demux(w.substr(0, i), {}); });
    EXPECT_NE(msg.find("ended inside a frame"), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------------------------------------
// LineSplitter

namespace {
std::vector<std::string> split_lines(LineSplitter& s, const std::string& data, const std::vector<std::size_t>& cuts) {
  std::vector<std::string> out;
  auto sink = [&](std::string_view l) { out.emplace_back(l); };
  std::size_t pos = 0;
  for (auto c : cuts) {
    s.feed(std::string_view(data).substr(pos, c - pos), sink);
    pos = c;
  }
  s.feed(std::string_view(data).substr(pos), sink);
  s.flush(sink);
  return out;
}
}  // namespace

TEST(LineSplitter, PartialLinesAtEverySplit) {
  std::string data = "one\ntwo\r\n\nlast without newline";
  for_every_split(data, [&](const auto& cuts) {
    LineSplitter s;
    auto lines = split_lines(s, data, cuts);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "one");
    EXPECT_EQ(lines[1], "two\r");
    EXPECT_EQ(lines[2], "");
    EXPECT_EQ(lines[3], "last without newline");
    LineSplitter tty(LineSplitter::kDefaultMaxLine, true);
    lines = split_lines(tty, data, cuts);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[1], "two");
  });
}

TEST(LineSplitter, LongLinesArePassedOnInBoundedPieces) {
  std::string data = std::string(25, 'a') + "\nshort\n";
  for_every_split(data, [&](const auto& cuts) {
    LineSplitter s(10);
    auto lines = split_lines(s, data, cuts);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], std::string(10, 'a'));
    EXPECT_EQ(lines[1], std::string(10, 'a'));
    EXPECT_EQ(lines[2], std::string(5, 'a'));
    EXPECT_EQ(lines[3], "short");
    EXPECT_EQ(s.pending(), 0u);
  });
}

// ---------------------------------------------------------------------------------------------
// LogDecoder

namespace {
std::vector<LogLine> decode_logs(bool tty, bool ts, const std::string& wire, const std::vector<std::size_t>& cuts) {
  LogDecoder d(tty, ts);
  std::vector<LogLine> out;
  auto sink = [&](const LogLine& l) { out.push_back(l); };
  std::size_t pos = 0;
  for (auto c : cuts) {
    d.feed(std::string_view(wire).substr(pos, c - pos), sink);
    pos = c;
  }
  d.feed(std::string_view(wire).substr(pos), sink);
  d.finish(sink);
  return out;
}
}  // namespace

TEST(LogDecoder, MultiplexedWithTimestampsAndInterleavedPartialLines) {
  const std::string t1 = "2026-11-25T21:03:42.123456789Z";
  const std::string t2 = "2026-11-25T21:03:43.000000001Z";
  // A stdout line split across two frames, with a stderr frame in between.
  std::string wire = frame(1, t1 + " hello ") + frame(2, t2 + " oops\n") + frame(1, "world\n") +
                     frame(1, t2 + " \n") + frame(2, t1 + " tail");
  for_every_split(wire, [&](const auto& cuts) {
    auto lines = decode_logs(false, true, wire, cuts);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0].stream, "stderr");
    EXPECT_EQ(lines[0].data, "oops");
    EXPECT_EQ(lines[0].time, t2);
    EXPECT_EQ(lines[1].stream, "stdout");
    EXPECT_EQ(lines[1].data, "hello world");
    EXPECT_EQ(lines[1].time, t1);
    EXPECT_EQ(lines[2].data, "");
    EXPECT_EQ(lines[2].time, t2);
    EXPECT_EQ(lines[3].stream, "stderr");
    EXPECT_EQ(lines[3].data, "tail");
  });
}

TEST(LogDecoder, TtyIsRawStdoutWithCrLf) {
  std::string wire = "2026-11-25T21:03:42.1Z tty line\r\n2026-11-25T21:03:42.2Z second\r\n";
  for_every_split(wire, [&](const auto& cuts) {
    auto lines = decode_logs(true, true, wire, cuts);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].stream, "stdout");
    EXPECT_EQ(lines[0].data, "tty line");
    EXPECT_EQ(lines[0].time, "2026-11-25T21:03:42.1Z");
    EXPECT_EQ(lines[1].data, "second");
  });
}

TEST(LogDecoder, WithoutTimestampsTheLineIsKeptWhole) {
  auto lines = decode_logs(false, false, frame(1, "2026-11-25T21:03:42Z not parsed\n"), {});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].data, "2026-11-25T21:03:42Z not parsed");
  EXPECT_EQ(lines[0].time, "");
}

TEST(LogDecoder, TtyOutputReadAsMultiplexedIsAnError) {
  auto msg = expect_error([] { decode_logs(false, false, "plain text from a tty\n", {}); });
  EXPECT_NE(msg.find("TTY"), std::string::npos);
}

TEST(SplitTimestamp, OnlyTimesAreSplitOff) {
  std::string t, d;
  split_timestamp("2026-11-25T21:03:42.5+01:00 x y", t, d);
  EXPECT_EQ(t, "2026-11-25T21:03:42.5+01:00");
  EXPECT_EQ(d, "x y");
  split_timestamp("not a time at all, really", t, d);
  EXPECT_EQ(t, "");
  EXPECT_EQ(d, "not a time at all, really");
  split_timestamp("2026-11-25T21:03:42.5Z", t, d);
  EXPECT_EQ(t, "2026-11-25T21:03:42.5Z");
  EXPECT_EQ(d, "");
  split_timestamp("", t, d);
  EXPECT_EQ(t, "");
  EXPECT_EQ(d, "");
}

// ---------------------------------------------------------------------------------------------
// JsonLinesDecoder

TEST(JsonLinesDecoder, DocumentsAtEverySplit) {
  std::string wire =
      "{\"status\":\"Pulling fs layer\",\"id\":\"a1\"}\r\n\n"
      "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":10,\"total\":20},\"id\":\"a1\"}\n"
      "{\"errorDetail\":{\"message\":\"boom\"},\"error\":\"boom\"}";
  for_every_split(wire, [&](const auto& cuts) {
    JsonLinesDecoder d;
    std::vector<kontena::agent::docker::Json> docs;
    auto sink = [&](const Json& j) { docs.push_back(j); };
    std::size_t pos = 0;
    for (auto c : cuts) {
      d.feed(std::string_view(wire).substr(pos, c - pos), sink);
      pos = c;
    }
    d.feed(std::string_view(wire).substr(pos), sink);
    d.finish(sink);
    ASSERT_EQ(docs.size(), 3u);
    EXPECT_EQ(docs[0]["id"], "a1");
    EXPECT_EQ(docs[1]["progressDetail"]["total"], 20);
    EXPECT_EQ(docs[2]["error"], "boom");
  });
}

TEST(JsonLinesDecoder, GarbageAndOversizedDocumentsAreErrors) {
  JsonLinesDecoder d;
  auto sink = [](const Json&) {};
  auto msg = expect_error([&] { d.feed("{\"a\":1}\nnot json\n", sink); });
  EXPECT_NE(msg.find("not JSON"), std::string::npos) << msg;
  JsonLinesDecoder small(16);
  msg = expect_error([&] { small.feed(std::string(10, ' ') + std::string(10, 'x'), sink); });
  EXPECT_NE(msg.find("longer than"), std::string::npos) << msg;
  JsonLinesDecoder trunc;
  trunc.feed("{\"a\":", sink);
  msg = expect_error([&] { trunc.finish(sink); });
  EXPECT_NE(msg.find("not JSON"), std::string::npos) << msg;
}

TEST(UrlEncode, ReservedCharactersAreEscaped) {
  EXPECT_EQ(url_encode("{\"label\":[\"a=b c\"]}"), "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
  EXPECT_EQ(url_encode("Az09-_.~"), "Az09-_.~");
  EXPECT_EQ(url_encode("reg:5000/x"), "reg%3A5000%2Fx");
}
