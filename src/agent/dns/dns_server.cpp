#include "agent/dns/dns_server.h"

#include "common/asio.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "agent/dns/dns_answer.h"
#include "common/error.h"

namespace kontena::agent::dns {

namespace {

using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

struct HostPort {
  asio::ip::address address;
  std::uint16_t port = 53;
};

// "1.2.3.4", "1.2.3.4:53", "[fd00::1]:53", "fd00::1".
HostPort parse_host_port(std::string_view text, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::invalid, "dns: " + what + " '" + std::string(text) + "' " + why +
                                         " (write an IP address, optionally with a port: 10.81.0.3:53, [fd00::1]:53)");
  };
  std::string host(text);
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw bad("has no closing ']'");
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw bad("has something after ']' that is not ':port'");
      port = std::string(rest.substr(1));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  HostPort out;
  error_code ec;
  out.address = asio::ip::make_address(host, ec);
  if (ec) throw bad("is not an IP address");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw bad("has a port that is not a number");
    unsigned long value = std::stoul(port);
    if (value > 65535) throw bad("has a port over 65535");
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

// Per-thread xorshift: the answer order and upstream query ids (a fresh socket per forward also
// gives each query its own random source port).
std::uint64_t random64() {
  thread_local std::uint64_t state = [] {
    std::random_device device;
    std::uint64_t seed = (std::uint64_t{device()} << 32) | device();
    return seed ? seed : 0x9E3779B97F4A7C15ULL;
  }();
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

void set_id(std::string& packet, std::uint16_t id) {
  packet[0] = static_cast<char>(id >> 8);
  packet[1] = static_cast<char>(id & 0xff);
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::warn("dns: a connection ended with an error: {}", x.what());
  }
}

// Holds one unit of a bounded count for as long as it lives.
class Slot {
 public:
  explicit Slot(std::atomic<std::size_t>& count) : count_(&count) {}
  Slot(Slot&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  Slot(const Slot&) = delete;
  ~Slot() {
    if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t>* count_;
};

bool take_slot(std::atomic<std::size_t>& count, std::size_t limit) {
  std::size_t now = count.load(std::memory_order_relaxed);
  do {
    if (now >= limit) return false;
  } while (!count.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

}  // namespace

struct DnsServer::Impl {
  enum class Action { reply, forward, drop };

  // UDP is served in batches: when the socket is readable, recvmmsg takes up to kUdpBatch queued
  // datagrams, each is answered into its slot's reused buffer, and one sendmmsg sends the
  // answers; again while batches come back full, then back to waiting. No allocation per
  // in-zone query (forwards copy their query).
  static constexpr std::size_t kUdpBatch = 32;
  // A datagram longer than this is cut by the kernel (MSG_TRUNC): answered FORMERR. A query is one
  // question and an OPT record, well under 1 KiB.
  static constexpr std::size_t kUdpSlot = 4096;
  // Batches per wake-up before the loop lets TCP and forwards run (then it comes straight back).
  static constexpr int kUdpRounds = 8;
  // Asked for the receive buffer (the kernel caps it at net.core.rmem_max): a few hundred ms of
  // queries at tens of thousands per second, so a thread that is not scheduled for a while does
  // not drop them.
  static constexpr int kUdpReceiveBuffer = 4 << 20;

  struct UdpListener {
    explicit UdpListener(asio::io_context& io) : socket(io) {}
    udp::socket socket;
    std::array<std::array<char, kUdpSlot>, kUdpBatch> in{};
    std::array<sockaddr_storage, kUdpBatch> from{};
    std::array<iovec, kUdpBatch> in_iov{};
    std::array<mmsghdr, kUdpBatch> in_msgs{};
    std::array<std::string, kUdpBatch> out;
    std::array<iovec, kUdpBatch> out_iov{};
    std::array<mmsghdr, kUdpBatch> out_msgs{};
    Query query;
  };

  Impl(const DnsTable& t, DnsServerOptions o) : table(t), options(std::move(o)) {}

  const DnsTable& table;
  DnsServerOptions options;

  mutable std::mutex mutex;  // upstreams, listen, ports
  std::shared_ptr<const std::vector<udp::endpoint>> upstreams = std::make_shared<std::vector<udp::endpoint>>();
  std::vector<HostPort> listen;
  std::vector<std::uint16_t> ports;

  struct Counters {
    std::atomic<std::uint64_t> queries{0}, answered{0}, nxdomain{0}, forwarded{0}, servfail{0}, formerr{0},
        dropped{0};
  } counters;
  std::atomic<std::size_t> forwards_in_flight{0};
  std::atomic<std::size_t> tcp_connections{0};

  std::unique_ptr<asio::io_context> io;
  std::vector<std::unique_ptr<UdpListener>> udp_listeners;
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;
  std::thread thread;
  std::atomic<bool> running{false};

  static void count(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

  // The one decision for every query, UDP or TCP: fills out when the answer is ours.
  Action handle(std::string_view packet, bool over_tcp, Query& q, std::string& out) {
    count(counters.queries);
    AnswerOptions answer_options;
    answer_options.ttl = static_cast<std::uint32_t>(options.ttl.count());
    answer_options.over_tcp = over_tcp;
    answer_options.random = random64();
    switch (answer_query(table, packet, answer_options, q, out)) {
      case Outcome::answered:
        count(counters.answered);
        return Action::reply;
      case Outcome::nxdomain:
        count(counters.nxdomain);
        return Action::reply;
      case Outcome::refused:
      case Outcome::formerr:
        count(counters.formerr);
        return Action::reply;
      case Outcome::forward:
        return Action::forward;
      case Outcome::drop:
        count(counters.dropped);
        return Action::drop;
    }
    return Action::drop;
  }

  void servfail(const Query& q, bool over_tcp, std::string& out) {
    Response response;
    response.rcode = Rcode::servfail;
    response.authoritative = false;
    response.max_size = over_tcp ? kMaxTcpSize : q.udp_limit();
    encode_response(q, response, out);
    count(counters.servfail);
  }

  std::shared_ptr<const std::vector<udp::endpoint>> current_upstreams() const {
    std::lock_guard lock(mutex);
    return upstreams;
  }

  // --- forwarding

  asio::awaitable<std::optional<std::string>> udp_exchange(const std::string& query, const udp::endpoint& upstream) {
    auto executor = co_await asio::this_coro::executor;
    auto socket = std::make_shared<udp::socket>(executor);
    error_code ec;
    socket->open(upstream.protocol(), ec);
    // Connected: the kernel passes only the upstream's datagrams, and an ICMP "port unreachable"
    // ends the try at once instead of after the timeout.
    if (!ec) socket->connect(upstream, ec);
    if (ec) co_return std::nullopt;
    std::string sent = query;
    auto id = static_cast<std::uint16_t>(random64());
    set_id(sent, id);
    socket->send(asio::buffer(sent), 0, ec);
    if (ec) co_return std::nullopt;
    asio::steady_timer timer(executor);
    timer.expires_after(options.upstream_timeout);
    timer.async_wait([socket](const error_code& e) {
      error_code ignored;
      if (!e) socket->cancel(ignored);
    });
    std::string reply(kMaxTcpSize, '\0');
    while (true) {
      auto buffer = asio::buffer(reply);
      std::size_t n = co_await socket->async_receive(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // timed out, or refused
      std::uint16_t reply_id = 0, flags = 0;
      if (!read_id(std::string_view(reply.data(), n), reply_id, flags) || reply_id != id || !(flags & flag::qr))
        continue;  // not the answer to this query: keep waiting
      timer.cancel();
      reply.resize(n);
      co_return reply;
    }
    timer.cancel();
    co_return std::nullopt;
  }

  asio::awaitable<std::optional<std::string>> tcp_exchange(const std::string& query, const udp::endpoint& upstream) {
    auto executor = co_await asio::this_coro::executor;
    auto socket = std::make_shared<tcp::socket>(executor);
    asio::steady_timer timer(executor);
    timer.expires_after(options.upstream_timeout);
    timer.async_wait([socket](const error_code& e) {
      error_code ignored;
      if (!e) socket->close(ignored);
    });
    error_code ec;
    tcp::endpoint target(upstream.address(), upstream.port());
    co_await socket->async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
    std::string framed(2, '\0');
    framed += query;
    auto id = static_cast<std::uint16_t>(random64());
    framed[0] = static_cast<char>(query.size() >> 8);
    framed[1] = static_cast<char>(query.size() & 0xff);
    framed[2] = static_cast<char>(id >> 8);
    framed[3] = static_cast<char>(id & 0xff);
    if (!ec) {
      auto out = asio::buffer(framed);
      co_await asio::async_write(*socket, out, asio::redirect_error(asio::use_awaitable, ec));
    }
    std::array<unsigned char, 2> length{};
    if (!ec) {
      auto in = asio::buffer(length);
      co_await asio::async_read(*socket, in, asio::redirect_error(asio::use_awaitable, ec));
    }
    std::string reply((std::size_t{length[0]} << 8) | length[1], '\0');
    if (!ec) {
      auto in = asio::buffer(reply);
      co_await asio::async_read(*socket, in, asio::redirect_error(asio::use_awaitable, ec));
    }
    timer.cancel();
    error_code ignored;
    socket->close(ignored);
    std::uint16_t reply_id = 0, flags = 0;
    if (ec || !read_id(reply, reply_id, flags) || reply_id != id || !(flags & flag::qr)) co_return std::nullopt;
    co_return reply;
  }

  // The upstream's answer with the client's id, or nullopt when none answered.
  asio::awaitable<std::optional<std::string>> exchange(const std::string& query, bool over_tcp) {
    count(counters.forwarded);
    auto list = current_upstreams();
    if (list->empty()) co_return std::nullopt;
    std::uint16_t client_id = 0, flags = 0;
    read_id(query, client_id, flags);
    for (std::size_t attempt = 0; attempt < 2; ++attempt) {
      const udp::endpoint upstream = (*list)[attempt % list->size()];
      std::optional<std::string> reply = co_await udp_exchange(query, upstream);
      if (!reply) {
        spdlog::debug("dns: upstream {}:{} did not answer", upstream.address().to_string(), upstream.port());
        continue;
      }
      std::uint16_t reply_id = 0, reply_flags = 0;
      read_id(*reply, reply_id, reply_flags);
      if (over_tcp && (reply_flags & flag::tc)) {
        std::optional<std::string> full = co_await tcp_exchange(query, upstream);
        if (full) reply = std::move(full);
      }
      set_id(*reply, client_id);
      co_return reply;
    }
    co_return std::nullopt;
  }

  asio::awaitable<void> forward_udp(UdpListener* listener, std::string query, Query parsed, udp::endpoint client,
                                    [[maybe_unused]] Slot slot) {
    std::optional<std::string> reply = co_await exchange(query, false);
    std::string out;
    if (reply)
      out = std::move(*reply);
    else
      servfail(parsed, false, out);
    error_code ignored;
    listener->socket.send_to(asio::buffer(out), client, 0, ignored);
  }

  // --- UDP

  static udp::endpoint to_endpoint(const sockaddr_storage& address, socklen_t length) {
    udp::endpoint e;
    std::memcpy(e.data(), &address, std::min<std::size_t>(length, sizeof address));
    e.resize(std::min<std::size_t>(length, e.capacity()));
    return e;
  }

  // One received datagram: its answer goes to out (true), or it is forwarded or dropped (false).
  bool on_datagram(UdpListener& l, std::size_t slot, std::size_t size, bool truncated, std::string& out) {
    std::string_view packet(l.in[slot].data(), size);
    if (truncated) {
      count(counters.queries);
      std::uint16_t id = 0, flags = 0;
      if (!read_id(packet, id, flags) || (flags & flag::qr)) {
        count(counters.dropped);
        return false;
      }
      encode_error(id, flags, Rcode::formerr, out);
      count(counters.formerr);
      return true;
    }
    switch (handle(packet, false, l.query, out)) {
      case Action::reply:
        return true;
      case Action::forward: {
        if (!take_slot(forwards_in_flight, options.max_forwards)) {
          count(counters.dropped);
          return false;
        }
        udp::endpoint client = to_endpoint(l.from[slot], l.in_msgs[slot].msg_hdr.msg_namelen);
        asio::co_spawn(*io, forward_udp(&l, std::string(packet), l.query, client, Slot(forwards_in_flight)),
                       log_exception);
        return false;
      }
      case Action::drop:
        return false;
    }
    return false;
  }

  // Receives one batch and sends its answers; the number of datagrams received (0: none queued).
  std::size_t serve_batch(UdpListener& l) {
    const int fd = l.socket.native_handle();
    for (std::size_t i = 0; i < kUdpBatch; ++i) {
      l.in_iov[i] = {l.in[i].data(), l.in[i].size()};
      l.in_msgs[i] = {};
      l.in_msgs[i].msg_hdr.msg_name = &l.from[i];
      l.in_msgs[i].msg_hdr.msg_namelen = sizeof l.from[i];
      l.in_msgs[i].msg_hdr.msg_iov = &l.in_iov[i];
      l.in_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got;
    do {
      got = ::recvmmsg(fd, l.in_msgs.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        spdlog::debug("dns: udp receive failed: {}", std::strerror(errno));
      return 0;
    }
    std::size_t replies = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(got); ++i) {
      const msghdr& in = l.in_msgs[i].msg_hdr;
      bool truncated = (in.msg_flags & MSG_TRUNC) != 0;
      std::string& out = l.out[replies];
      if (!on_datagram(l, i, l.in_msgs[i].msg_len, truncated, out)) continue;
      l.out_iov[replies] = {out.data(), out.size()};
      l.out_msgs[replies] = {};
      l.out_msgs[replies].msg_hdr.msg_name = &l.from[i];
      l.out_msgs[replies].msg_hdr.msg_namelen = in.msg_namelen;
      l.out_msgs[replies].msg_hdr.msg_iov = &l.out_iov[replies];
      l.out_msgs[replies].msg_hdr.msg_iovlen = 1;
      ++replies;
    }
    std::size_t done = 0;
    while (done < replies) {
      int n = ::sendmmsg(fd, l.out_msgs.data() + done, static_cast<unsigned>(replies - done), MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        count(counters.dropped);  // this answer could not be sent (send buffer full): the client retries
        ++done;
      }
    }
    return static_cast<std::size_t>(got);
  }

  void serve_queued(UdpListener& l) {
    for (int round = 0; round < kUdpRounds; ++round)
      if (serve_batch(l) < kUdpBatch) {
        // Fewer than a batch: nothing was left queued. A datagram arriving from now on wakes
        // the wait below (the loop has one thread: the wait is armed before the loop polls again).
        receive(l);
        return;
      }
    // Still more queued: come back after whatever else is ready (TCP, forwards).
    asio::post(*io, [this, &l] { serve_queued(l); });
  }

  void receive(UdpListener& l) {
    l.socket.async_wait(udp::socket::wait_read, [this, &l](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) spdlog::debug("dns: udp wait failed: {}", ec.message());
      serve_queued(l);
    });
  }

  // --- TCP

  asio::awaitable<void> serve_tcp(std::shared_ptr<tcp::socket> socket, [[maybe_unused]] Slot connection) {
    auto executor = socket->get_executor();
    auto idle = std::make_shared<asio::steady_timer>(executor);
    Query q;
    std::string out, framed, message;
    std::array<unsigned char, 2> length{};
    error_code ec;
    while (true) {
      idle->expires_after(options.tcp_idle_timeout);
      idle->async_wait([socket, idle](const error_code& e) {
        error_code ignored;
        if (!e && idle->expiry() <= asio::steady_timer::clock_type::now()) socket->close(ignored);
      });
      auto length_buffer = asio::buffer(length);
      co_await asio::async_read(*socket, length_buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      std::size_t size = (std::size_t{length[0]} << 8) | length[1];
      if (size == 0) break;
      message.resize(size);
      auto message_buffer = asio::buffer(message);
      co_await asio::async_read(*socket, message_buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      idle->cancel();  // a forward may take longer than the idle time; the next read re-arms it
      Action action = handle(message, true, q, out);
      if (action == Action::drop) break;
      if (action == Action::forward) {
        if (!take_slot(forwards_in_flight, options.max_forwards)) {
          count(counters.dropped);
          break;
        }
        Slot slot(forwards_in_flight);
        std::optional<std::string> reply = co_await exchange(message, true);
        if (reply)
          out = std::move(*reply);
        else
          servfail(q, true, out);
      }
      framed.assign(2, '\0');
      framed[0] = static_cast<char>(out.size() >> 8);
      framed[1] = static_cast<char>(out.size() & 0xff);
      framed += out;
      auto framed_buffer = asio::buffer(framed);
      co_await asio::async_write(*socket, framed_buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    idle->cancel();
    error_code ignored;
    socket->close(ignored);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor* acceptor) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor);
    while (true) {
      auto socket = std::make_shared<tcp::socket>(executor);
      error_code ec;
      co_await acceptor->async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of file descriptors and the like: do not spin on it.
        spdlog::warn("dns: accepting a TCP connection failed: {}", ec.message());
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (!take_slot(tcp_connections, options.max_tcp_connections)) {
        count(counters.dropped);
        error_code ignored;
        socket->close(ignored);
        continue;
      }
      asio::co_spawn(executor, serve_tcp(socket, Slot(tcp_connections)), log_exception);
    }
  }

  // --- lifecycle

  void bind_all() {
    std::vector<HostPort> parsed;
    for (const auto& text : options.listen) parsed.push_back(parse_host_port(text, "listen address"));
    if (parsed.empty()) fail(ErrorKind::invalid, "dns: no listen address (give at least one, e.g. 10.81.0.3:53)");
    std::vector<std::uint16_t> bound;
    for (const auto& where : parsed) {
      // With port 0 the kernel picks the UDP port; TCP must get the same one, so retry a few
      // times if that port is taken for TCP.
      std::string last_error;
      bool done = false;
      for (int attempt = 0; attempt < 8 && !done; ++attempt) {
        auto listener = std::make_unique<UdpListener>(*io);
        udp::endpoint udp_endpoint(where.address, where.port);
        error_code ec;
        listener->socket.open(udp_endpoint.protocol(), ec);
        if (!ec) listener->socket.bind(udp_endpoint, ec);
        if (ec) {
          last_error = "udp: " + ec.message();
          break;
        }
        std::uint16_t port = listener->socket.local_endpoint().port();
        auto acceptor = std::make_unique<tcp::acceptor>(*io);
        tcp::endpoint tcp_endpoint(where.address, port);
        acceptor->open(tcp_endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor->bind(tcp_endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
          last_error = "tcp: " + ec.message();
          if (where.port != 0) break;
          continue;
        }
        listener->socket.non_blocking(true, ec);
        error_code buffer_ec;  // not fatal: the default buffer works, it only drops sooner
        listener->socket.set_option(asio::socket_base::receive_buffer_size(kUdpReceiveBuffer), buffer_ec);
        if (buffer_ec) spdlog::debug("dns: cannot size the udp receive buffer: {}", buffer_ec.message());
        for (auto& out : listener->out) out.reserve(kMaxUdpSize);
        udp_listeners.push_back(std::move(listener));
        tcp_acceptors.push_back(std::move(acceptor));
        bound.push_back(port);
        done = true;
      }
      if (!done)
        fail(ErrorKind::unavailable, "dns: cannot listen on " + where.address.to_string() + ":" +
                                         std::to_string(where.port) + " (" + last_error +
                                         "); is another DNS server (dnsmasq, systemd-resolved) bound to it?");
    }
    std::lock_guard lock(mutex);
    listen = std::move(parsed);
    ports = std::move(bound);
  }

  void close_all() {
    udp_listeners.clear();
    tcp_acceptors.clear();
    // Destroying the loop destroys the coroutines still waiting (TCP connections, forwards) with
    // the sockets they own.
    io.reset();
  }
};

DnsServer::DnsServer(const DnsTable& table, DnsServerOptions options)
    : impl_(std::make_unique<Impl>(table, std::move(options))) {
  set_upstreams(impl_->options.upstreams);
}

DnsServer::~DnsServer() { stop(); }

void DnsServer::start() {
  if (impl_->running) return;
  impl_->io = std::make_unique<asio::io_context>(1);
  try {
    impl_->bind_all();
  } catch (...) {
    impl_->close_all();
    throw;
  }
  // Upstreams given before the listen ports were known: check them against ourselves again.
  set_upstreams(upstreams());
  for (auto& listener : impl_->udp_listeners) impl_->receive(*listener);
  for (auto& acceptor : impl_->tcp_acceptors)
    asio::co_spawn(*impl_->io, impl_->accept_loop(acceptor.get()), log_exception);
  impl_->running = true;
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] {
    while (true) {
      try {
        impl->io->run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("dns: the server's loop failed, it goes on: {}", e.what());
      }
    }
  });
  std::string where;
  for (std::size_t i = 0; i < impl_->listen.size(); ++i)
    where += (i ? ", " : "") + impl_->listen[i].address.to_string() + ":" + std::to_string(impl_->ports[i]);
  spdlog::info("dns: serving kontena.local on {} (udp+tcp), forwarding to {} upstream(s)", where,
               impl_->current_upstreams()->size());
}

void DnsServer::stop() {
  if (!impl_->running.exchange(false)) return;
  impl_->io->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->close_all();
  auto s = stats();
  spdlog::info("dns: stopped queries={} answered={} nxdomain={} forwarded={} servfail={} formerr={} dropped={}",
               s.queries, s.answered, s.nxdomain, s.forwarded, s.servfail, s.formerr, s.dropped);
}

bool DnsServer::running() const { return impl_->running; }

std::optional<std::string> DnsServer::answer(std::string_view query_packet) {
  Query q;
  std::string out;
  if (impl_->handle(query_packet, false, q, out) != Impl::Action::reply) return std::nullopt;
  return out;
}

void DnsServer::set_upstreams(const std::vector<std::string>& upstreams) {
  auto list = std::make_shared<std::vector<udp::endpoint>>();
  std::lock_guard lock(impl_->mutex);
  for (const auto& text : upstreams) {
    HostPort where = parse_host_port(text, "upstream resolver");
    bool ourselves = false;
    for (std::size_t i = 0; i < impl_->listen.size(); ++i)
      if (impl_->listen[i].address == where.address && i < impl_->ports.size() && impl_->ports[i] == where.port)
        ourselves = true;
    if (ourselves) {
      spdlog::warn("dns: upstream {} is this server itself; left out", text);
      continue;
    }
    list->emplace_back(where.address, where.port);
  }
  impl_->upstreams = std::move(list);
}

std::vector<std::string> DnsServer::upstreams() const {
  auto list = impl_->current_upstreams();
  std::vector<std::string> out;
  for (const auto& e : *list) {
    std::string host = e.address().to_string();
    out.push_back(e.address().is_v6() ? "[" + host + "]:" + std::to_string(e.port())
                                      : host + ":" + std::to_string(e.port()));
  }
  return out;
}

std::vector<std::uint16_t> DnsServer::ports() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->ports;
}

DnsStats DnsServer::stats() const {
  const auto& c = impl_->counters;
  DnsStats s;
  s.queries = c.queries.load();
  s.answered = c.answered.load();
  s.nxdomain = c.nxdomain.load();
  s.forwarded = c.forwarded.load();
  s.servfail = c.servfail.load();
  s.formerr = c.formerr.load();
  s.dropped = c.dropped.load();
  return s;
}

std::vector<std::string> resolv_conf_nameservers(const std::string& path, const std::vector<std::string>& exclude) {
  std::ifstream file(path);
  std::vector<std::string> out;
  if (!file) {
    spdlog::warn("dns: cannot read {}: no upstream resolvers from it", path);
    return out;
  }
  std::vector<asio::ip::address> excluded;
  for (const auto& text : exclude) {
    error_code ec;
    auto address = asio::ip::make_address(text, ec);
    if (!ec) excluded.push_back(address);
  }
  excluded.push_back(asio::ip::make_address("127.0.0.11"));  // Docker's embedded DNS: it forwards to us
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream words(line);
    std::string keyword, value;
    if (!(words >> keyword >> value) || keyword != "nameserver") continue;
    error_code ec;
    auto address = asio::ip::make_address(value, ec);
    if (ec) {
      spdlog::warn("dns: {}: nameserver '{}' is not an IP address; skipped", path, value);
      continue;
    }
    if (std::find(excluded.begin(), excluded.end(), address) != excluded.end()) continue;
    excluded.push_back(address);  // no duplicates
    out.push_back(value);
  }
  return out;
}

}  // namespace kontena::agent::dns
