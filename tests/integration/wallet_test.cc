// README "Wallet" against the running stack: charges by the admin and by the payment provider's signed
// callback credit a user's wallet exactly once (retried callbacks and keys included), concurrent charges
// of one user add up in the wallet's partition order, refusals publish nothing, and what landed in
// allot.decisions, MySQL and Redis agree (allotctl verify --wallets --projections).
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ingress/payment_signature.h"
#include "stack_api.h"
#include "support.h"
#include "topics/messages.h"
#include "topics/verify_wallets.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;

class Wallet : public ::testing::Test {
 protected:
  HttpClient http_{http_port()};
  const std::string alice_ = unique_id("w-alice"), bob_ = unique_id("w-bob");

  HttpResponse charge(const std::string& body, const Headers& headers, const std::string& query = "?wait_ms=10000") {
    return http_.post_json("/api/wallet/charge" + query, body, headers);
  }
  static std::string body(const std::string& user, int64_t amount, const std::string& payment_id = "") {
    json j{{"user_id", user}, {"amount", amount}};
    if (!payment_id.empty()) j["payment_id"] = payment_id;
    return j.dump();
  }
  static Headers signed_by_provider(const std::string& b) {
    return {{"Payment-Signature", ingress::PaymentSignatures(payment_secret()).sign(b, now_ms() / 1000)}};
  }
  // The wallet as GET /api/wallet shows it to `headers`, once its balance is `balance` (or after 15 s).
  json wallet_once(int64_t balance, const Headers& headers, const std::string& query = "") {
    json w;
    for (int i = 0; i < 150; ++i) {
      auto r = http_.request("GET", "/api/wallet" + query, "", headers);
      EXPECT_EQ(r.status, 200) << r.body;
      w = json::parse(r.body, nullptr, false);
      if (w.is_object() && w.value("balance", int64_t{-1}) == balance) break;
      std::this_thread::sleep_for(100ms);
    }
    return w;
  }
  // The wallet decisions (charges, rewards) about `users` that landed in allot.decisions since `tail` last
  // read, once `count` came (or after `timeout`).
  static std::vector<topics::Decision> wallet_decisions_of(TopicTail& tail, const std::set<std::string>& users,
                                                           size_t count, std::chrono::seconds timeout = 30s) {
    std::vector<topics::Decision> out;
    tail.read_until(
        [&](const RdKafka::Message& m) {
          auto d = topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len()));
          if (topics::is_wallet_decision(d) && users.count(d.user_id)) out.push_back(std::move(d));
        },
        [&] { return out.size() >= count; }, timeout);
    return out;
  }
};

TEST_F(Wallet, ChargesCreditExactlyOnceAndEveryStoreAgrees) {
  TopicTail decisions("allot.decisions");
  // The admin: decided within the wait, with the balance after it.
  auto first = charge(body(alice_, 1000), as_admin());
  ASSERT_EQ(first.status, 200) << first.body;
  auto decided = json::parse(first.body);
  EXPECT_EQ(decided["status"], "credited");
  EXPECT_EQ(decided["type"], "charge");
  EXPECT_EQ(decided["amount"], 1000);
  EXPECT_EQ(decided["balance"], 1000);
  EXPECT_FALSE(decided.contains("event_id")) << "a wallet is no event's";

  // The provider's callback, delivered three times (as providers retry): one charge.
  const auto paid = body(alice_, 250, unique_id("pi"));
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = charge(paid, signed_by_provider(paid));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_field(r, "status"), "credited");
    EXPECT_EQ(json::parse(r.body)["balance"], 1250) << "a retried payment is the first charge's answer";
  }
  // The admin's Idempotency-Key, retried without waiting: one charge.
  const auto key = unique_id("key");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = charge(body(alice_, 5), as_admin({{"Idempotency-Key", key}}), "");
    ASSERT_TRUE(r.status == 202 || r.status == 200) << r.body;
  }

  // Twenty charges of bob at once, 1 to 20 cents: the wallet's partition orders them.
  std::vector<std::thread> crowd;
  std::vector<int> statuses(20, 0);
  for (int i = 0; i < 20; ++i) {
    crowd.emplace_back([&, i] {
      HttpClient own(http_port());
      statuses[i] = own.post_json("/api/wallet/charge", body(bob_, i + 1), as_admin()).status;
    });
  }
  for (auto& t : crowd) t.join();
  for (int s : statuses) EXPECT_EQ(s, 202);

  // Refused at the door, before anything is published.
  EXPECT_EQ(charge(body(alice_, 7), {}).status, 401);
  EXPECT_EQ(charge(body(alice_, 7), as_user(alice_)).status, 403) << "a user cannot credit their own wallet";
  EXPECT_EQ(charge(body(alice_, 7), {{"Payment-Signature", "t=1,v1=00"}}).status, 401);
  const auto tampered = body(alice_, 7, unique_id("pi"));
  EXPECT_EQ(charge(body(alice_, 700000, unique_id("pi")), signed_by_provider(tampered)).status, 401);
  EXPECT_EQ(charge(body(alice_, 0), as_admin()).status, 400);
  const auto unnamed = body(alice_, 7);  // a signed callback must name its payment (a replay is then one charge)
  EXPECT_EQ(charge(unnamed, signed_by_provider(unnamed)).status, 400);
  EXPECT_EQ(charge(body(alice_, 7), as_admin({{"Idempotency-Key", "pay-" + unique_id("x")}})).status, 400)
      << "the system's own ids are not a client's key";

  // Kafka: 1 + 1 + 1 charges of alice, 20 of bob, each once; nothing refused landed.
  auto landed = wallet_decisions_of(decisions, {alice_, bob_}, 23);
  // Anything more would have landed behind them within seconds.
  for (auto& d : wallet_decisions_of(decisions, {alice_, bob_}, SIZE_MAX, 3s)) landed.push_back(std::move(d));
  ASSERT_EQ(landed.size(), 23u);
  std::map<std::string, int64_t> newest_balance;
  for (const auto& d : landed) {
    EXPECT_EQ(d.outcome, topics::Outcome::kCredited);
    newest_balance[d.user_id] = std::max(newest_balance[d.user_id], d.balance.value_or(0));
  }
  EXPECT_EQ(newest_balance[alice_], 1255);
  EXPECT_EQ(newest_balance[bob_], 210) << "1 + 2 + ... + 20";

  // The read side: the user's own wallet, the admin's view of it, nobody else's.
  auto alice = wallet_once(1255, as_user(alice_));
  EXPECT_EQ(alice["balance"], 1255) << alice.dump();
  ASSERT_EQ(alice["ledger"].size(), 3u) << alice.dump();
  EXPECT_EQ(alice["ledger"][0]["amount"], 5) << "newest first";
  EXPECT_EQ(wallet_once(210, as_admin(), "?user_id=" + bob_)["balance"], 210);
  EXPECT_EQ(http_.request("GET", "/api/wallet?user_id=" + bob_, "", as_user(alice_)).status, 403);
  const auto charge_id = decided["request_id"].get<std::string>();
  EXPECT_EQ(http_.request("GET", "/api/claims/" + charge_id, "", as_user(alice_)).status, 200);
  EXPECT_EQ(http_.request("GET", "/api/claims/" + charge_id, "", as_user(bob_)).status, 404);

  // The verifier, from what landed: money conserved, each charge once, both projections equal to the log.
  const std::string allotctl = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl";
  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up(60));
  EXPECT_EQ(sh(allotctl + " verify --wallets " + alice_ + "," + bob_ + " --projections --brokers " + brokers() +
               " > /tmp/allot-wallet-verify.txt"),
            0)
      << "see /tmp/allot-wallet-verify.txt";
}

// Rewards (README "Rewards"): the processor that issues a unit emits its reward for the winner's wallet in
// the same transaction. Killed with -9 twice while 1,500 units are issued, every unit still gets exactly
// one reward, of the amount the published rule gives, and every store agrees.
TEST_F(Wallet, EveryUnitIssuedIsRewardedExactlyOnceAcrossKillNineOfTheProcessors) {
  constexpr int kUnits = 1500;
  const auto event = unique_id("rw-drop");
  const auto prefix = unique_id("winner");
  std::vector<std::string> users;
  for (int i = 0; i < kUnits; ++i) users.push_back(prefix + "-" + std::to_string(i));
  TopicTail decisions("allot.decisions");
  ASSERT_NO_FATAL_FAILURE(
      create_event({{"event_id", event}, {"title", "Rewarded"}, {"stock", kUnits}, {"reward_average", 250}}));
  CommandProducer producer;  // the event's create is stored first, on the same partition
  for (int i = 0; i < kUnits; ++i) {
    producer.send({prefix + "-claim-" + std::to_string(i), now_ms(), topics::Claim{event, users[i]}});
  }
  producer.flush();
  for (const char* processor : {"processor-1", "processor-2"}) {
    std::this_thread::sleep_for(300ms);
    EXPECT_GT(signal_service(processor, SIGKILL), 0) << processor;
  }
  std::this_thread::sleep_for(1s);
  ASSERT_NO_FATAL_FAILURE(stack_up());

  // Exactly one reward per unit: 1,500 of them, and nothing more within a few seconds after. (These users
  // were never charged: every wallet decision about them is a reward.)
  const std::set<std::string> ours(users.begin(), users.end());
  auto rewards = wallet_decisions_of(decisions, ours, kUnits, 180s);
  for (auto& d : wallet_decisions_of(decisions, ours, SIZE_MAX, 3s)) rewards.push_back(std::move(d));
  ASSERT_EQ(rewards.size(), static_cast<size_t>(kUnits));
  std::set<std::string> claims;
  int64_t total = 0;
  for (const auto& d : rewards) {
    EXPECT_EQ(d.type, topics::decision_type::kReward);
    claims.insert(d.claim_request_id);
    EXPECT_EQ(d.outcome, topics::Outcome::kCredited);
    total += d.amount.value_or(0);
  }
  EXPECT_EQ(claims.size(), static_cast<size_t>(kUnits)) << "one reward per winning claim";
  EXPECT_NEAR(static_cast<double>(total) / kUnits, 250.0, 2.0) << "the amounts average the target";

  // The winner sees it in their wallet.
  auto first = std::find_if(rewards.begin(), rewards.end(), [&](const auto& d) { return d.user_id == users[0]; });
  ASSERT_NE(first, rewards.end());
  EXPECT_EQ(wallet_once(*first->amount, as_user(users[0]))["balance"], *first->amount);

  // The verifier re-derives every amount from the event's issues, and both stores equal the log.
  const std::string allotctl = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl";
  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up());
  std::string wallets;
  for (const auto& u : users) wallets += (wallets.empty() ? "" : ",") + u;
  EXPECT_EQ(sh(allotctl + " verify --events " + event + " --wallets " + wallets + " --projections --brokers " +
               brokers() + " > /tmp/allot-rewards-verify.txt"),
            0)
      << "see /tmp/allot-rewards-verify.txt";
  EXPECT_EQ(sh("grep -q 'rewards=" + std::to_string(kUnits) + "' /tmp/allot-rewards-verify.txt"), 0)
      << "every unit's reward was checked against the rule";
}

}  // namespace
}  // namespace allot
