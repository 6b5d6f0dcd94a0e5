#include "ingress/decision_watch.h"

#include <librdkafka/rdkafkacpp.h>

#include <vector>

#include "common/kafka.h"
#include "common/log.h"
#include "topics/messages.h"
#include "topics/vocabulary.h"

namespace allot::ingress {

namespace {
using Clock = std::chrono::steady_clock;

// Decisions that answer a client's request (a claim, a confirm or cancel, a close); not create_event
// (nobody polls it) nor what a command caused (those carry an earlier claim's request id).
bool answers_a_request(std::string_view type) {
  using namespace topics::decision_type;
  // An order's answer is its order_result (a wallet type), not the placed decision.
  return type == kClaim || type == kConfirm || type == kCancel || type == kCloseEvent || type == kDeleteEvent ||
         type == kJoin || topics::is_wallet_type(type);
}

// The decision in `raw` (JSON on allot.decisions), or nullopt when it answers no request or is invalid.
std::optional<ClaimView> decode_claim(const std::string& raw) {
  try {
    auto d = topics::decode_decision(raw);
    if (!answers_a_request(d.type)) return std::nullopt;
    ClaimView c{std::move(d.request_id),
                std::move(d.event_id),
                std::move(d.user_id),
                std::string(topics::to_string(d.outcome)),
                d.coupon_seq,
                d.decided_at,
                std::move(d.type),
                std::move(d.claim_request_id),
                d.hold_expires_at,
                d.ticket,
                d.outcome == topics::Outcome::kAdmitted ? std::optional<int64_t>(d.decided_at) : std::nullopt,
                d.amount,
                d.balance,
                d.reason ? std::string(topics::to_string(*d.reason)) : std::string(),
                std::move(d.seat)};
    return c;
  } catch (const std::exception& e) {
    log_warn("ingress", std::string("decision watch: undecodable decision skipped: ") + e.what());
    return std::nullopt;
  }
}

// The string value that follows `key` (e.g. "request_id":") in a JSON text, without decoding it. A key
// pattern cannot match inside a string value, where every quote is escaped; the value itself is checked
// when the decision is decoded.
std::optional<std::string_view> string_after(std::string_view json, std::string_view key) {
  auto at = json.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  auto start = at + key.size();
  auto end = json.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return json.substr(start, end - start);
}

// Answers waiters outside our lock; a callback must not throw, but one that does must not end the thread.
void answer(const DecisionWatch::Callback& cb, const ClaimView* decided) {
  try {
    cb(decided);
  } catch (const std::exception& e) {
    log_warn("ingress", std::string("long poll answer failed: ") + e.what());
  } catch (...) {
    log_warn("ingress", "long poll answer failed");
  }
}
}  // namespace

DecisionWatch::DecisionWatch(DecisionWatchOptions options, metrics::Registry& registry)
    : DecisionWatch(std::move(options), registry,
                    registry.counter("allot_ingress_long_poll_answers_total", "Long polls answered, by how")) {}

DecisionWatch::DecisionWatch(DecisionWatchOptions options, metrics::Registry& registry,
                             metrics::Family<metrics::Counter>& answers)
    : opt_(std::move(options)),
      waiters_gauge_(
          registry.gauge("allot_ingress_long_polls", "Long polls waiting for their claim's decision").with()),
      woken_(answers.with({{"how", "decided"}})),
      timed_out_(answers.with({{"how", "timed_out"}})) {
  consumer_ =
      kafka::make_consumer({{"bootstrap.servers", opt_.brokers},
                            {"group.id", "allot-ingress-watch"},  // required by the API; never joined or committed
                            {"enable.auto.commit", "false"},
                            {"enable.auto.offset.store", "false"},
                            {"isolation.level", "read_committed"},
                            {"enable.partition.eof", "false"},
                            // The broker answers a waiting read_committed fetch as soon as a commit makes
                            // decisions readable, so a long wait costs no latency; 10 ms was ~100 fetches/s at rest.
                            {"fetch.wait.max.ms", "500"}});
  consumer_thread_ = std::thread([this] { consume_loop(); });
  timer_thread_ = std::thread([this] { timer_loop(); });
}

DecisionWatch::~DecisionWatch() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  deadline_changed_.notify_all();
  consumer_thread_.join();
  timer_thread_.join();
  release_all();
  if (auto code = consumer_->close(); code != RdKafka::ERR_NO_ERROR) {
    log_warn("ingress", "decision watch: consumer close: " + RdKafka::err2str(code));
  }
}

void DecisionWatch::release_all() {
  std::map<uint64_t, Waiter> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiters_);
    deadlines_.clear();
    by_request_.clear();
    waiters_gauge_.set(0);
  }
  for (auto& [id, w] : left) answer(w.callback, nullptr);
  timed_out_.inc(static_cast<double>(left.size()));
  left.clear();
  // Callbacks the other threads took out before us may still be running: the caller is about to take
  // down what they answer through, so wait for them (bounded: a callback does not block).
  std::unique_lock lock(mu_);
  answered_.wait_for(lock, std::chrono::seconds(5), [this] { return answering_ == 0; });
}

void DecisionWatch::done_answering(size_t n) {
  std::lock_guard lock(mu_);
  answering_ -= n;
  if (answering_ == 0) answered_.notify_all();
}

std::optional<ClaimView> DecisionWatch::find(const std::string& request_id) const {
  std::string raw;
  {
    std::lock_guard lock(mu_);
    auto it = recent_.find(request_id);
    if (it == recent_.end()) return std::nullopt;
    raw = it->second;
  }
  return decode_claim(raw);
}

DecisionWatch::Result DecisionWatch::wait(const std::string& request_id, Clock::time_point deadline, Callback callback,
                                          ClaimView* decided) {
  std::string raw;
  {
    std::lock_guard lock(mu_);
    if (auto it = recent_.find(request_id); it != recent_.end()) {
      raw = it->second;
    } else {
      if (waiters_.size() >= opt_.max_waiters || stop_) return Result::kFull;
      uint64_t id = next_id_++;
      bool earliest = deadlines_.empty() || deadline < deadlines_.begin()->first;
      waiters_.emplace(id, Waiter{request_id, deadline, std::move(callback)});
      deadlines_.emplace(deadline, id);
      by_request_.emplace(request_id, id);
      waiters_gauge_.set(static_cast<double>(waiters_.size()));
      if (earliest) deadline_changed_.notify_all();  // the consumer thread may wait on it too (while assigning)
      return Result::kWaiting;
    }
  }
  auto claim = decode_claim(raw);
  if (!claim) return Result::kFull;  // kept only after a cheap look: the caller answers without waiting
  *decided = std::move(*claim);
  return Result::kDecided;
}

size_t DecisionWatch::waiters() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

void DecisionWatch::remember(std::string request_id, const std::string& raw) {
  // A deleted event's decision that names a user (a claim decided after the delete) is not kept: a read
  // then goes to the projection, which has erased it.
  if (auto of = string_after(raw, R"("event_id":")");
      of && deleted_events_.find(*of) != deleted_events_.end() && raw.find(R"("user_id":")") != std::string::npos) {
    return;
  }
  auto [it, fresh] = recent_.try_emplace(std::move(request_id), raw);
  if (!fresh) return;  // a replayed decision: the first one stands
  order_.push_back(it->first);
  while (order_.size() > opt_.remembered) {
    recent_.erase(order_.front());
    order_.pop_front();
  }
}

void DecisionWatch::decided(std::string request_id, const std::string& raw) {
  std::vector<Callback> ready;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = by_request_.equal_range(request_id);
    for (auto it = first; it != last; ++it) {
      auto w = waiters_.find(it->second);
      deadlines_.erase({w->second.deadline, it->second});
      ready.push_back(std::move(w->second.callback));
      waiters_.erase(w);
    }
    by_request_.erase(first, last);
    if (!ready.empty()) waiters_gauge_.set(static_cast<double>(waiters_.size()));
    if (ready.empty()) {
      remember(std::move(request_id), raw);
      return;
    }
    remember(request_id, raw);
    answering_ += ready.size();
  }
  auto claim = decode_claim(raw);
  for (const auto& cb : ready) answer(cb, claim ? &*claim : nullptr);
  (claim ? woken_ : timed_out_).inc(static_cast<double>(ready.size()));
  size_t n = ready.size();
  ready.clear();  // the callbacks (and the answers they hold) go before release_all may return
  done_answering(n);
}

// A deletion erases the event's users (README "Deleting an event"): also from what this ingress remembers, which
// GET /api/claims/{id} answers from before the projection. Matched without decoding, like the consumer.
void DecisionWatch::forget_event(std::string_view event_id) {
  std::lock_guard lock(mu_);
  deleted_events_.emplace(event_id);  // and keeps nothing of the event's users from now on (remember())
  for (auto it = recent_.begin(); it != recent_.end();) {
    auto of = string_after(it->second, R"("event_id":")");
    it = of && *of == event_id ? recent_.erase(it) : std::next(it);
  }
}

// Assigns every partition of the topic at its end; false (logged) while the broker cannot say how many
// there are. From the end: decisions older than this are in the Redis projection already (or soon).
bool DecisionWatch::assign() {
  try {
    int32_t partitions = kafka::partition_count(*consumer_, opt_.topic, std::chrono::seconds(2));
    kafka::PartitionList assignment;
    for (int32_t p = 0; p < partitions; ++p) {
      assignment.items.push_back(RdKafka::TopicPartition::create(opt_.topic, p, RdKafka::Topic::OFFSET_END));
    }
    auto code = consumer_->assign(assignment.items);
    if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error("assign: " + RdKafka::err2str(code));
    reading_ = true;
    log_info("ingress", "decision watch: reading " + opt_.topic + " (" + std::to_string(partitions) + " partitions)");
    return true;
  } catch (const std::exception& e) {
    log_warn("ingress",
             std::string("decision watch: ") + e.what() + "; retrying (long polls answer pending meanwhile)");
    return false;
  }
}

// Reads decisions as they are committed. Errors are logged and retried: librdkafka reconnects by itself,
// and a waiter whose decision this misses is still answered (pending) at its deadline. The ingress also
// starts while the broker is down: the assignment is retried here until it succeeds.
void DecisionWatch::consume_loop() {
  while (!stop_ && !assign()) {
    std::unique_lock lock(mu_);
    deadline_changed_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
  }
  std::string last_error;
  while (!stop_) {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      if (m->errstr() != last_error) log_warn("ingress", "decision watch: " + m->errstr());
      last_error = m->errstr();
      continue;
    }
    std::string_view json(static_cast<const char*>(m->payload()), m->len());
    auto type = string_after(json, R"("type":")");
    auto request_id = string_after(json, R"("request_id":")");
    if (!type || !answers_a_request(*type) || !request_id) continue;
    try {
      if (*type == topics::decision_type::kDeleteEvent) {
        if (auto event_id = string_after(json, R"("event_id":")")) forget_event(*event_id);
      }
      decided(std::string(*request_id), std::string(json));
    } catch (const std::exception& e) {  // only a failed allocation gets here
      log_warn("ingress", std::string("decision watch: ") + e.what());
    }
  }
}

// Answers the waiters whose deadline passed, earliest first, sleeping until the next deadline.
void DecisionWatch::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (deadlines_.empty()) {
      deadline_changed_.wait(lock);
      continue;
    }
    auto next = deadlines_.begin()->first;
    if (Clock::now() < next) {
      deadline_changed_.wait_until(lock, next);
      continue;
    }
    std::vector<Callback> expired;
    auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      uint64_t id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto w = waiters_.find(id);
      auto [first, last] = by_request_.equal_range(w->second.request_id);
      for (auto it = first; it != last; ++it) {
        if (it->second == id) {
          by_request_.erase(it);
          break;
        }
      }
      expired.push_back(std::move(w->second.callback));
      waiters_.erase(w);
    }
    waiters_gauge_.set(static_cast<double>(waiters_.size()));
    answering_ += expired.size();
    lock.unlock();
    for (const auto& cb : expired) answer(cb, nullptr);
    timed_out_.inc(static_cast<double>(expired.size()));
    size_t n = expired.size();
    expired.clear();  // the callbacks (and the answers they hold) go before release_all may return
    done_answering(n);
    lock.lock();
  }
}

}  // namespace allot::ingress
