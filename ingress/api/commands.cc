#include "ingress/api/commands.h"

#include "common/clock.h"
#include "common/log.h"
#include "ingress/mega.h"
#include "topics/slices.h"

namespace allot::ingress::api {

using nlohmann::json;

namespace {
// What every command's delivery shares: counted in flight while the broker has not answered, and a
// refused command answered 503. Subclasses answer the stored one.
class Answering : public Delivery {
 public:
  Answering(Reply reply, std::string request_id, ApiProbe& probe)
      : reply_(std::move(reply)), request_id_(std::move(request_id)), probe_(probe) {
    probe_.in_flight.add(1);
  }
  ~Answering() override { probe_.in_flight.add(-1); }
  void failed(const std::string& reason) override {
    log_warn("ingress", "command " + request_id_ + " not accepted by the broker: " + reason);
    reply_.error(errors::command_not_stored());
  }

 protected:
  Reply reply_;
  std::string request_id_;

 private:
  ApiProbe& probe_;
};
}  // namespace

// Answers a stored command 202 with the body `accepted` makes.
class Commands::Stored : public Answering {
 public:
  Stored(Reply reply, std::string request_id, Accepted accepted, ApiProbe& probe)
      : Answering(std::move(reply), std::move(request_id), probe), accepted_(std::move(accepted)) {}
  void delivered(topics::CommandPosition position) override { reply_.send(202, accepted_(position).dump()); }

 private:
  Accepted accepted_;
};

// Answers a command whose decision the client may wait for, from the publisher's poll thread: once the
// broker has it, 202 with its queue position, or with wait_ms its decision (200) when that comes in time.
class Commands::Awaited : public Answering {
 public:
  Awaited(Commands& c, Reply r, std::string request_id, std::string event_id, std::string user_id, int wait_ms)
      : Answering(std::move(r), std::move(request_id), c.probe_),
        c_(c),
        event_id_(std::move(event_id)),
        user_id_(std::move(user_id)),
        wait_ms_(wait_ms) {}
  void delivered(topics::CommandPosition position) override {
    PendingClaim p{std::move(event_id_), std::move(user_id_), position};
    c_.pending_.add(request_id_, p);
    if (wait_ms_ > 0 && c_.decisions_ && !c_.gate_.draining()) {
      return c_.long_poll(std::move(reply_), request_id_, p, wait_ms_, 202);
    }
    reply_.send(202, c_.views_.accepted_body(request_id_, p));
  }

 private:
  Commands& c_;
  std::string event_id_, user_id_;
  int wait_ms_;
};

void Commands::publish(const topics::Command& c, Reply r, Accepted accepted) {
  hook("command:publishing");
  publisher_.publish(c, std::make_unique<Stored>(std::move(r), c.request_id, std::move(accepted), probe_));
  hook("command:published");
}

void Commands::publish_to_slices(const std::string& id, const std::string& event_id, int32_t slices, int32_t partitions,
                                 const SliceBody& body, Reply r, Accepted accepted) {
  auto parts =
      fan_out(std::make_unique<Stored>(std::move(r), id, std::move(accepted), probe_), static_cast<size_t>(slices));
  const int64_t now = now_ms();
  hook("command:publishing");
  for (int32_t k = 0; k < slices; ++k) {
    topics::Command c{id + "-" + std::to_string(k), now, body(k)};
    publisher_.publish(c, std::move(parts[static_cast<size_t>(k)]), topics::slice_partition(event_id, k, partitions));
  }
  hook("command:published");
}

void Commands::publish_awaited(const topics::Command& c, Reply r, std::string event_id, std::string user_id,
                               int wait_ms, int32_t partition) {
  hook("command:publishing");
  publisher_.publish(
      c, std::make_unique<Awaited>(*this, std::move(r), c.request_id, std::move(event_id), std::move(user_id), wait_ms),
      partition);
  hook("command:published");
}

void Commands::long_poll(Reply r, const std::string& id, const PendingClaim& p, int wait_ms, int pending_status) {
  await_decision(std::move(r), id, wait_ms, [this, id, p, pending_status](Reply& reply, bool full) {
    if (pending_status == 202) return reply.send(202, views_.accepted_body(id, p));
    if (full) return reply.error(errors::too_many_waiters());
    reply.send(200, views_.pending_body(id, p));
  });
}

void Commands::long_poll(Reply r, const std::string& id, const ClaimView& known, int wait_ms) {
  await_decision(std::move(r), id, wait_ms,
                 [this, known](Reply& reply, bool) { reply.send(200, views_.answer_body(known)); });
}

void Commands::await_decision(Reply r, const std::string& id, int wait_ms, const Undecided& undecided) {
  auto shared = std::make_shared<Reply>(std::move(r));
  auto deadline = shared->started() + std::chrono::milliseconds(wait_ms);
  ClaimView decided;
  auto result = decisions_->wait(
      id, deadline,
      [this, shared, undecided](const ClaimView* c) {
        if (c) return shared->send(200, views_.answer_body(*c));
        undecided(*shared, false);
      },
      &decided);
  if (result == DecisionWatch::Result::kDecided) return shared->send(200, views_.answer_body(decided));
  if (result == DecisionWatch::Result::kFull) undecided(*shared, true);
}

}  // namespace allot::ingress::api
