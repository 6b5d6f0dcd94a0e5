#include "common/kafka.h"

#include "common/base64url.h"
#include "common/clock.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"

namespace allot::kafka {

namespace {

// Closes a consumer that only assigned (never joined a group), so nobody waits on its leaving: a
// failed close is logged, not thrown (it may run while another error is on its way out).
void close_reader(RdKafka::KafkaConsumer& consumer, const std::string& topic) {
  if (auto code = consumer.close(); code != RdKafka::ERR_NO_ERROR) {
    log_warn("kafka", "closing the reader of " + topic + ": " + RdKafka::err2str(code));
  }
}

}  // namespace

RdKafka::ErrorCode watermarks(RdKafka::KafkaConsumer& consumer, const std::string& topic, int32_t partition,
                              int64_t* low, int64_t* high, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto reason = RdKafka::ERR_NO_ERROR;  // the last answer that said more than "timed out"
  for (;;) {
    const int wait_ms = static_cast<int>(std::max<int64_t>(ms_until(deadline).count(), 1));
    const auto code = consumer.query_watermark_offsets(topic, partition, low, high, wait_ms);
    const bool timed_out = code == RdKafka::ERR__TIMED_OUT || code == RdKafka::ERR_REQUEST_TIMED_OUT;
    const bool moving = timed_out || code == RdKafka::ERR_NOT_LEADER_FOR_PARTITION ||
                        code == RdKafka::ERR_LEADER_NOT_AVAILABLE || code == RdKafka::ERR_OFFSET_NOT_AVAILABLE ||
                        code == RdKafka::ERR_REPLICA_NOT_AVAILABLE || code == RdKafka::ERR_FENCED_LEADER_EPOCH ||
                        code == RdKafka::ERR_UNKNOWN_LEADER_EPOCH || code == RdKafka::ERR__TRANSPORT ||
                        code == RdKafka::ERR__ALL_BROKERS_DOWN;
    if (!timed_out) reason = code;
    if (!moving) return code;
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(250) >= deadline) {
      return reason != RdKafka::ERR_NO_ERROR ? reason : code;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  Settings all = settings;
  all.try_emplace("socket.timeout.ms", "10000");
  for (const auto& [key, value] : all) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error("kafka config " + key + ": " + err);
    }
  }
  return conf;
}

std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(const Settings& settings) {
  auto conf = make_conf(settings);
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("kafka consumer: " + err);
  return c;
}

std::unique_ptr<RdKafka::Producer> make_producer(const Settings& settings) {
  auto conf = make_conf(settings);
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error("kafka producer: " + err);
  return p;
}

std::unique_ptr<RdKafka::KafkaConsumer> make_group_consumer(Settings settings, const std::string& topic,
                                                            RdKafka::RebalanceCb* rebalance, RdKafka::EventCb* events) {
  const Settings defaults{{"isolation.level", "read_committed"}, {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "earliest"},
                          {"session.timeout.ms", "10000"},       {"heartbeat.interval.ms", "1000"},
                          {"statistics.interval.ms", "2000"}};
  for (const auto& [key, value] : defaults) settings.try_emplace(key, value);
  auto conf = make_conf(settings);
  std::string err;
  if (conf->set("rebalance_cb", rebalance, err) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", events, err) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("kafka consumer callbacks: " + err);
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("kafka consumer: " + err);
  if (auto code = consumer->subscribe({topic}); code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("subscribe " + topic + ": " + RdKafka::err2str(code));
  }
  return consumer;
}

int32_t partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) throw std::runtime_error("topic handle " + topic + ": " + err);
  RdKafka::Metadata* raw = nullptr;
  auto code = handle.metadata(false, t.get(), &raw, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("metadata for " + topic + ": " + RdKafka::err2str(code));
  }
  for (const auto* tm : *md->topics()) {
    if (tm->topic() == topic) {
      if (tm->err() != RdKafka::ERR_NO_ERROR) {
        throw std::runtime_error("topic " + topic + ": " + RdKafka::err2str(tm->err()));
      }
      return static_cast<int32_t>(tm->partitions()->size());
    }
  }
  throw std::runtime_error("topic " + topic + " not found");
}

namespace {

// read_committed_to_end, where `on_record` returning false ends the read of its record's partition there.
int64_t read_committed_while(const std::string& brokers, const std::string& topic,
                             const std::vector<PartitionStart>& starts,
                             const std::function<bool(const RdKafka::Message&)>& on_record,
                             std::chrono::milliseconds timeout) {
  auto consumer = make_consumer({{"bootstrap.servers", brokers},
                                 {"group.id", "allot-reader"},  // required by the API; never committed
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"isolation.level", "read_committed"},
                                 {"enable.partition.eof", "true"},
                                 {"fetch.max.bytes", "52428800"}});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unordered_map<int32_t, int64_t> end;  // partition -> high watermark at the start
  PartitionList assignment;
  for (const auto& s : starts) {
    int64_t low = 0, high = 0;
    auto code = watermarks(*consumer, topic, s.partition, &low, &high,
                           std::max(ms_until(deadline), std::chrono::milliseconds(1)));
    if (code != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("watermarks of " + topic + "/" + std::to_string(s.partition) + ": " +
                               RdKafka::err2str(code));
    }
    if (s.to >= 0) high = std::min(high, s.to);
    if (s.from >= high) continue;
    end[s.partition] = high;
    assignment.items.push_back(RdKafka::TopicPartition::create(topic, s.partition, std::max(s.from, low)));
  }
  if (assignment.items.empty()) return 0;
  if (auto code = consumer->assign(assignment.items); code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("assign " + topic + ": " + RdKafka::err2str(code));
  }
  int64_t count = 0;
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      close_reader(*consumer, topic);
      throw std::runtime_error("reading " + topic + " to its end timed out (an open transaction?)");
    }
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        // Records past a partition's end (it may grow while others are still read) are not handed out.
        auto it = end.find(m->partition());
        if (it == end.end() || m->offset() >= it->second) break;
        ++count;
        if (!on_record(*m) || m->offset() + 1 >= it->second) end.erase(it);
        break;
      }
      case RdKafka::ERR__PARTITION_EOF:
        // The EOF offset is where a read_committed fetch stops: past aborted records and markers.
        if (auto it = end.find(m->partition()); it != end.end() && m->offset() >= it->second) end.erase(it);
        break;
      case RdKafka::ERR__TIMED_OUT:
        break;
      default:
        close_reader(*consumer, topic);
        throw std::runtime_error("reading " + topic + ": " + m->errstr());
    }
  }
  close_reader(*consumer, topic);
  return count;
}

}  // namespace

int64_t read_committed_to_end(const std::string& brokers, const std::string& topic,
                              const std::vector<PartitionStart>& starts,
                              const std::function<void(const RdKafka::Message&)>& on_record,
                              std::chrono::milliseconds timeout) {
  return read_committed_while(
      brokers, topic, starts,
      [&](const RdKafka::Message& m) {
        on_record(m);
        return true;
      },
      timeout);
}

std::set<int32_t> partitions_with_committed_records(const std::string& brokers, const std::string& topic,
                                                    const std::vector<PartitionStart>& ranges,
                                                    std::chrono::milliseconds timeout) {
  std::set<int32_t> found;
  read_committed_while(
      brokers, topic, ranges,
      [&](const RdKafka::Message& m) {
        found.insert(m.partition());
        return false;  // one is enough
      },
      timeout);
  return found;
}

RdKafka::ErrorCode collect_batch(RdKafka::KafkaConsumer& consumer, Batch& batch, size_t max_records, int max_ms,
                                 const std::function<bool()>& keep_going, std::string& error, int idle_ms) {
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (batch.size() < max_records && keep_going()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    const int left = static_cast<int>(ms_until(deadline).count());
    const bool idle_close = !batch.empty() && idle_ms > 0 && idle_ms < left;
    int wait = batch.empty() ? 100 : idle_close ? idle_ms : left;
    std::unique_ptr<RdKafka::Message> m(consumer.consume(std::max(wait, 1)));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR:
        if (batch.empty()) deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
        batch.push_back(std::move(m));
        break;
      case RdKafka::ERR__TIMED_OUT:
        if (batch.empty() || idle_close) return RdKafka::ERR_NO_ERROR;  // nothing more has come: close it now
        break;
      case RdKafka::ERR__PARTITION_EOF:
        break;
      default:
        error = m->errstr();
        return m->err();
    }
  }
  return RdKafka::ERR_NO_ERROR;
}

int64_t read_all_committed(const std::string& brokers, const std::string& topic,
                           const std::function<void(const RdKafka::Message&)>& on_record,
                           std::chrono::milliseconds timeout) {
  auto producer = make_producer({{"bootstrap.servers", brokers}});
  int32_t n = partition_count(*producer, topic, timeout);
  std::vector<PartitionStart> starts;
  for (int32_t p = 0; p < n; ++p) starts.push_back({p, 0});
  return read_committed_to_end(brokers, topic, starts, on_record, timeout);
}

// ---- topic_id: one Metadata request (API key 3, version 11, flexible encoding) over a plain socket.

namespace {

class Wire {
 public:
  void i8(int8_t v) { out_.push_back(static_cast<char>(v)); }
  void i16(int16_t v) { be(static_cast<uint16_t>(v), 2); }
  void i32(int32_t v) { be(static_cast<uint32_t>(v), 4); }
  void uvarint(uint32_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void raw(std::string_view s) { out_.append(s); }
  std::string& bytes() { return out_; }

 private:
  void be(uint32_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint32_t be(int n) {
    need(static_cast<size_t>(n));
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    return v;
  }
  uint32_t uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      need(1);
      auto b = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("metadata response: bad varint");
  }
  std::string_view take(size_t n) {
    need(n);
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // COMPACT_(NULLABLE_)STRING: length + 1 as an unsigned varint, 0 = null.
  std::string_view compact_string() {
    uint32_t n = uvarint();
    return n == 0 ? std::string_view() : take(n - 1);
  }
  void tagged_fields() {
    for (uint32_t n = uvarint(); n > 0; --n) {
      uvarint();
      take(uvarint());
    }
  }

 private:
  void need(size_t n) const {
    if (pos_ + n > in_.size()) throw std::runtime_error("metadata response: truncated");
  }
  std::string_view in_;
  size_t pos_ = 0;
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Sends `request` (without its size prefix) to host:port and returns the response (without it).
std::string round_trip(const std::string& host_port, const std::string& request, std::chrono::milliseconds timeout) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("broker address without port: " + host_port);
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("resolve " + host_port + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  Fd s;
  s.fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (s.fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  // On Linux the send timeout also bounds connect().
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(s.fd, found->ai_addr, found->ai_addrlen) != 0) {
    throw std::runtime_error("connect " + host_port + ": " + std::strerror(errno));
  }
  Wire framed;
  framed.i32(static_cast<int32_t>(request.size()));
  framed.raw(request);
  const std::string& out = framed.bytes();
  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send to " + host_port + ": " + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  auto read_exactly = [&](size_t n) {
    std::string buf(n, '\0');
    for (size_t got = 0; got < n;) {
      ssize_t r = ::recv(s.fd, buf.data() + got, n - got, 0);
      if (r <= 0)
        throw std::runtime_error("receive from " + host_port + ": " + (r == 0 ? "closed" : std::strerror(errno)));
      got += static_cast<size_t>(r);
    }
    return buf;
  };
  Reader size(read_exactly(4));
  uint32_t n = size.be(4);
  if (n > (64u << 20)) throw std::runtime_error("metadata response too large");
  return read_exactly(n);
}

// The topic id in a Metadata v11 response for one topic; throws on the broker's error.
std::string topic_id_from(const std::string& response, const std::string& topic, int32_t correlation) {
  Reader r(response);
  if (static_cast<int32_t>(r.be(4)) != correlation) throw std::runtime_error("metadata response: wrong correlation id");
  r.tagged_fields();
  r.be(4);                                      // throttle_time_ms
  for (uint32_t b = r.uvarint(); b > 1; --b) {  // brokers
    r.be(4);
    r.compact_string();
    r.be(4);
    r.compact_string();
    r.tagged_fields();
  }
  r.compact_string();  // cluster_id
  r.be(4);             // controller_id
  if (r.uvarint() < 2) throw std::runtime_error("metadata response: no topic");
  auto error = static_cast<int16_t>(r.be(2));
  auto name = r.compact_string();
  auto id = r.take(16);
  if (error != 0 || name != topic) {
    throw std::runtime_error("topic " + topic + ": " + RdKafka::err2str(static_cast<RdKafka::ErrorCode>(error)));
  }
  return base64url_encode(id);
}

[[noreturn]] void throw_no_id(const std::string& topic, const std::string& why) {
  throw std::runtime_error("topic id of " + topic + ": " + why);
}

}  // namespace

std::string topic_id(const std::string& brokers, const std::string& topic, std::chrono::milliseconds timeout) {
  constexpr int32_t kCorrelation = 0x616c6f74;
  Wire req;
  req.i16(3);   // Metadata
  req.i16(11);  // the first version without cluster authorized operations; topic ids since 10
  req.i32(kCorrelation);
  req.i16(static_cast<int16_t>(std::string_view("allot").size()));
  req.raw("allot");                // client_id: a plain nullable string even in flexible headers
  req.uvarint(0);                  // header tagged fields
  req.uvarint(2);                  // one topic (compact array: n + 1)
  req.raw(std::string(16, '\0'));  // topic_id unknown: look up by name
  req.uvarint(static_cast<uint32_t>(topic.size() + 1));
  req.raw(topic);
  req.uvarint(0);  // topic tagged fields
  req.i8(0);       // allow_auto_topic_creation
  req.i8(0);       // include_topic_authorized_operations
  req.uvarint(0);  // body tagged fields

  std::vector<std::string> list;
  for (size_t start = 0; start <= brokers.size();) {
    size_t comma = brokers.find(',', start);
    std::string broker = brokers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? brokers.size() + 1 : comma + 1;
    if (!broker.empty()) list.push_back(std::move(broker));
  }
  // A paused broker (SIGSTOP) accepts the connection and never answers: one attempt waiting the whole
  // timeout on the first broker of the list held a processor's restore, and so its group's rebalance, for
  // two minutes while two brokers were up. Each attempt gets a few seconds, and the brokers are asked in
  // turn until one answers or the timeout is spent.
  constexpr std::chrono::milliseconds kAttempt{3000};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error = "no broker given";
  bool answered = false;  // an answer (even an error) is the cluster's word: no further round
  while (!list.empty() && !answered) {
    for (const auto& broker : list) {
      auto left = ms_until(deadline);
      if (left.count() <= 0) throw_no_id(topic, last_error);
      std::string response;
      try {
        response = round_trip(broker, req.bytes(), std::min(left, kAttempt));
      } catch (const std::exception& e) {
        if (!answered) last_error = e.what();  // a broker's answer says more than a later failed connection
        continue;
      }
      answered = true;
      try {
        return topic_id_from(response, topic, kCorrelation);
      } catch (const std::exception& e) {
        last_error = e.what();
      }
    }
    if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // e.g. every connection refused
  }
  throw_no_id(topic, last_error);
}

}  // namespace allot::kafka
