// allot-netdelay: holds every packet the kernel queues to NFQUEUE `--queue N` for `--delay-ms` plus a uniform
// jitter of +-`--jitter-ms`, then lets it through. The network lab's stand-in for `tc netem delay`, which this
// machine's kernel lacks (CONFIG_NET_SCH_NETEM is not set): `bench/netlab delay MS JITTER_MS` starts one per
// host, inside its namespace, behind an iptables NFQUEUE rule with --queue-bypass (no delayer: packets pass).
// Jitter reorders packets, as netem's does; TCP puts them back in order.
//
//   allot-netdelay --queue N --delay-ms MS [--jitter-ms J] --seconds S
//
// Bounded: it exits after S seconds (at most 3600) or on SIGTERM/SIGINT, letting every held packet go first.
// <netinet/in.h> before the kernel's headers, which then leave out what libc defines.
#include <netinet/in.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

struct Held {
  Clock::time_point due;
  uint32_t id;
  bool operator>(const Held& o) const { return due > o.due; }
};

struct Delayer {
  std::chrono::microseconds delay{0}, jitter{0};
  std::mt19937_64 random{std::random_device{}()};
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;
  uint64_t packets = 0;

  Clock::time_point due_time() {
    auto extra = jitter.count() > 0 ? std::uniform_int_distribution<int64_t>(-jitter.count(), jitter.count())(random)
                                    : int64_t{0};
    return Clock::now() + std::max(std::chrono::microseconds(0), delay + std::chrono::microseconds(extra));
  }
};

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* opaque) {
  auto* d = static_cast<Delayer*>(opaque);
  const auto* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) return 0;
  d->held.push({d->due_time(), ntohl(header->packet_id)});
  ++d->packets;
  return 0;
}

long flag(int argc, char** argv, const char* name, long fallback, long min, long max) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      char* end = nullptr;
      long v = std::strtol(argv[i + 1], &end, 10);
      if (*end != '\0' || v < min || v > max) {
        std::fprintf(stderr, "allot-netdelay: %s must be %ld..%ld\n", name, min, max);
        std::exit(2);
      }
      return v;
    }
  }
  if (fallback < 0) {
    std::fprintf(stderr, "usage: allot-netdelay --queue N --delay-ms MS [--jitter-ms J] --seconds S (missing %s)\n",
                 name);
    std::exit(2);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const auto queue = static_cast<uint16_t>(flag(argc, argv, "--queue", -1, 0, 65535));
  const long delay_ms = flag(argc, argv, "--delay-ms", -1, 0, 10000);
  const long jitter_ms = flag(argc, argv, "--jitter-ms", 0, 0, 10000);
  const long seconds = flag(argc, argv, "--seconds", -1, 1, 3600);
  Delayer d;
  d.delay = std::chrono::milliseconds(delay_ms);
  d.jitter = std::chrono::milliseconds(jitter_ms);

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::perror("allot-netdelay: nfq_open");
    return 1;
  }
  nfq_q_handle* q = nfq_create_queue(h, queue, &on_packet, &d);
  if (q == nullptr || nfq_set_mode(q, NFQNL_COPY_META, 0) < 0) {
    std::fprintf(stderr, "allot-netdelay: cannot bind queue %u: %s\n", queue, std::strerror(errno));
    nfq_close(h);
    return 1;
  }
  // What the kernel holds for us at most; past it (and when our socket buffer overflows) packets pass
  // undelayed rather than being dropped (fail open), so the delayer never turns into packet loss.
  nfq_set_queue_maxlen(q, 100000);
  nfq_set_queue_flags(q, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);
  const int fd = nfq_fd(h);
  std::fprintf(stderr, "allot-netdelay: queue %u, delay %ld ms +- %ld ms, for %ld s\n", queue, delay_ms, jitter_ms,
               seconds);

  std::vector<char> buffer(1 << 16);
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (!stop_requested && Clock::now() < end) {
    // Sleep until the next packet is due (at most 100 ms, so that the end and signals are seen).
    auto wait = std::chrono::milliseconds(100);
    if (!d.held.empty()) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(d.held.top().due - Clock::now()) +
                                std::chrono::milliseconds(1));
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, wait.count()))) > 0 && (p.revents & POLLIN)) {
      // Read every queued message there is, without blocking.
      for (ssize_t n; (n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT)) > 0;) {
        nfq_handle_packet(h, buffer.data(), static_cast<int>(n));
      }
    }
    for (auto now = Clock::now(); !d.held.empty() && d.held.top().due <= now; d.held.pop()) {
      nfq_set_verdict(q, d.held.top().id, NF_ACCEPT, 0, nullptr);
    }
  }
  for (; !d.held.empty(); d.held.pop()) nfq_set_verdict(q, d.held.top().id, NF_ACCEPT, 0, nullptr);
  std::fprintf(stderr, "allot-netdelay: %llu packets delayed\n", static_cast<unsigned long long>(d.packets));
  nfq_destroy_queue(q);
  nfq_close(h);
  return 0;
}
