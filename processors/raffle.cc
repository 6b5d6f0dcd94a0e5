#include "processors/raffle.h"

#include <stdexcept>

#include "processors/orders.h"
#include "topics/draw.h"
#include "topics/vocabulary.h"

namespace allot::processors::detail {

using topics::Outcome;

void enter(Ctx& x, EventState& e, const std::string& user_id) {
  x.st.put(entry_key(e.spec.event_id, e.entries), encode_place(x.c.request_id, user_id));
  e.entries += 1;
}

void draw(Ctx& x, EventState& e) {
  const auto seed = topics::draw_seed(e.spec.event_id, x.position);
  auto winners = topics::draw_winners(seed, e.entries, e.spec.stock);
  std::vector<int64_t> rank(static_cast<size_t>(e.entries), 0);
  for (size_t i = 0; i < winners.size(); ++i) {
    rank[static_cast<size_t>(winners[i])] = static_cast<int64_t>(i) + 1;
  }
  e.issued = static_cast<int64_t>(winners.size());
  e.closed = true;
  for (int64_t i = 0; i < e.entries; ++i) {
    auto entry = x.st.get(entry_key(e.spec.event_id, i));
    if (!entry) throw std::runtime_error("raffle entry missing: " + entry_key(e.spec.event_id, i));
    auto space = entry->find(' ');
    auto won = rank[static_cast<size_t>(i)] > 0;
    auto d = caused_decision(x, topics::decision_type::kDrawResult, e, entry->substr(0, space),
                             entry->substr(space + 1), won ? Outcome::kWon : Outcome::kLost);
    if (won) d.coupon_seq = rank[static_cast<size_t>(i)];
    d.remaining = remaining_of(e);
    x.caused.push_back(std::move(d));
  }
  // Rewards in rank order: the n-th reward is draw rank n's.
  if (x.st.get(rewards_key(e.spec.event_id))) {
    std::vector<const topics::Decision*> by_rank(winners.size());
    for (const auto& d : x.caused) {
      if (d.type == topics::decision_type::kDrawResult && d.event_id == e.spec.event_id && d.coupon_seq) {
        by_rank[static_cast<size_t>(*d.coupon_seq - 1)] = &d;
      }
    }
    for (size_t k = 0; k < by_rank.size(); ++k) {
      unit_issued(x, e, by_rank[k]->user_id, by_rank[k]->request_id, static_cast<int64_t>(k) + 1);
    }
  }
}

}  // namespace allot::processors::detail
