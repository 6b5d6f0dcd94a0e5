// Issue 14.3 on the real stack: DELETE /api/events/{id} leaves no user id of the event in MySQL, in
// Redis, or in allot.changelog once compacted; the counters stay, `allotctl verify` passes, and a claim
// afterwards gets a clear answer (404 event_deleted from the ingress, `deleted` from the processor).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <mysql.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/mysql.h"
#include "common/redis.h"
#include "projection_match.h"
#include "stack_api.h"
#include "support.h"
#include "topics/admin.h"
#include "topics/vocabulary.h"

namespace allot {
namespace {

using namespace testsupport;
using namespace std::chrono_literals;
using nlohmann::json;

std::string allotctl() { return std::string(ALLOT_BUILD_DIR) + "/topics/allotctl"; }

class DeleteEvent : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* s : {"sink-mysql", "sink-redis", "processor-1", "ingress"}) {
      ASSERT_TRUE(service_alive(s)) << "the stack's " << s << " must run";
    }
  }
  // The changelog's configs back as topics/topics.json defines them, even when the test failed.
  void TearDown() override {
    EXPECT_EQ(sh(allotctl() + " topics apply --brokers " + brokers() + " --file topics/topics.json >/dev/null"), 0);
  }

  HttpResponse admin(const std::string& method, const std::string& path, const std::string& body = "") {
    return http_.request(method, path, body,
                         {{"Authorization", "Bearer " + admin_token()}, {"Content-Type", "application/json"}});
  }
  void create(const json& event) {
    auto r = admin("POST", "/api/events", event.dump());
    ASSERT_EQ(r.status, 202) << r.body;
    const auto id = event["event_id"].get<std::string>();
    for (int i = 0; i < 120 && http_.request("GET", "/api/events/" + id).status != 200; ++i)
      std::this_thread::sleep_for(500ms);
    ASSERT_EQ(http_.request("GET", "/api/events/" + id).status, 200) << id << " never reached the projection";
  }
  // A claim answered with its decision (long poll); returns the decision's JSON.
  json claim(const std::string& event, const std::string& user) {
    auto r = http_.post_json("/api/events/" + event + "/claims?wait_ms=10000", json{{"user_id", user}}.dump(),
                             as_user(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json::object();
  }

  HttpClient http_{http_port()};
};

// Every place a text can hide in one Redis key: hash fields and values, set and sorted-set members, a string.
void key_texts(redisContext* r, const std::string& key, std::vector<std::string>& out) {
  auto type = redis::command(r, {"TYPE", key});
  const std::string t = type && type->type == REDIS_REPLY_STATUS ? type->str : "none";
  if (t == "none") return;
  out.push_back(key);
  redis::Reply content = t == "hash"   ? redis::command(r, {"HGETALL", key})
                         : t == "set"  ? redis::command(r, {"SMEMBERS", key})
                         : t == "zset" ? redis::command(r, {"ZRANGE", key, "0", "-1"})
                                       : redis::command(r, {"GET", key});
  if (content && content->type == REDIS_REPLY_ARRAY) {
    for (size_t k = 0; k < content->elements; ++k) out.emplace_back(content->element[k]->str, content->element[k]->len);
  } else if (content && content->type == REDIS_REPLY_STRING) {
    out.emplace_back(content->str, content->len);
  }
}

// The texts of every key matching `pattern` (SCAN, bounded).
std::vector<std::string> scan_texts(redisContext* r, const std::string& pattern) {
  std::vector<std::string> out;
  std::string cursor = "0";
  for (int pages = 0; pages < 100000; ++pages) {
    auto page = redis::command(r, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) throw std::runtime_error("SCAN failed");
    cursor = page->element[0]->str;
    for (size_t i = 0; i < page->element[1]->elements; ++i) key_texts(r, page->element[1]->element[i]->str, out);
    if (cursor == "0") break;
  }
  return out;
}

size_t count_mentions(const std::vector<std::string>& texts, const std::string& marker) {
  return static_cast<size_t>(std::count_if(texts.begin(), texts.end(),
                                           [&](const std::string& t) { return t.find(marker) != std::string::npos; }));
}

TEST_F(DeleteEvent, LeavesNoUserIdInMysqlRedisOrTheCompactedChangelog) {
  const auto tag = unique_id("del");
  // Every user id of the test carries `marker`, which nothing else (event or request ids) contains.
  std::string marker = "Pii" + tag.substr(4);
  std::erase(marker, '-');
  auto user = [&](int i) { return marker + "u" + std::to_string(i); };
  const std::string fcfs = tag + "-f", hold = tag + "-h", raffle = tag + "-r";
  DecisionLog log;
  create({{"event_id", fcfs}, {"title", "Delete me"}, {"stock", 2}});
  create({{"event_id", hold}, {"title", "Delete me"}, {"stock", 3}, {"mode", "hold"}, {"hold_ms", 3600000}});
  create({{"event_id", raffle},
          {"title", "Delete me"},
          {"stock", 1},
          {"mode", "raffle"},
          {"closes_at", now_ms() + 3'600'000}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(claim(fcfs, user(i))["status"], i < 2 ? "issued" : "sold_out");
  auto held = claim(hold, user(10));
  EXPECT_EQ(held["status"], "held");
  EXPECT_EQ(claim(hold, user(11))["status"], "held");
  auto confirmed = http_.post_json("/api/claims/" + held["request_id"].get<std::string>() + "/confirm?wait_ms=10000",
                                   json{{"user_id", user(10)}}.dump(), as_user(user(10)));
  EXPECT_EQ(confirmed.status, 200) << confirmed.body;
  for (int i = 20; i < 23; ++i) EXPECT_EQ(claim(raffle, user(i))["status"], "entered");

  // Before the delete the users are there: the checks below can see them.
  auto db = mysql::connect(
      {.host = "127.0.0.1", .port = store_address().mysql_port, .user = "root", .password = "", .database = "allot"});
  auto mysql_mentions = [&] {
    const auto like = mysql::quote(db.get(), "%" + marker + "%");
    auto res = mysql::query(db.get(), "SELECT (SELECT COUNT(*) FROM claims WHERE user_id LIKE " + like +
                                          ") + (SELECT COUNT(*) FROM requests WHERE user_id LIKE " + like + ")");
    return std::stoll(mysql_fetch_row(res.get())[0]);
  };
  auto r = redis::connect("127.0.0.1", store_address().redis_port, 5s);
  // Redis: the event's own keys, and every claim and request record of it (by request id from the log).
  auto redis_mentions = [&] {
    size_t n = 0;
    for (const auto& e : {fcfs, hold, raffle}) n += count_mentions(scan_texts(r.get(), "allot:*" + e + "*"), marker);
    std::vector<std::string> records;
    for (const auto& d : log.decisions()) key_texts(r.get(), "allot:claim:" + d.request_id, records);
    return n + count_mentions(records, marker);
  };
  ASSERT_TRUE(log.wait_for({fcfs, hold, raffle}, 3 + 3 + 3 + 3, 60s));
  for (int i = 0; i < 120 && (mysql_mentions() < 9 || redis_mentions() < 9); ++i) std::this_thread::sleep_for(500ms);
  ASSERT_GE(mysql_mentions(), 9) << "the claims and the confirm were not projected to MySQL";
  ASSERT_GE(redis_mentions(), 9) << "the claims and the confirm were not projected to Redis";

  for (const auto& e : {fcfs, hold, raffle}) {
    auto del = admin("DELETE", "/api/events/" + e + "?wait_ms=10000");
    ASSERT_EQ(del.status, 200) << del.body;
    EXPECT_EQ(json::parse(del.body)["status"], "deleted") << del.body;
  }
  // An unknown event: 404 when the ingress can be sure (nothing lags), else the processor's unknown_event.
  auto none = admin("DELETE", "/api/events/" + tag + "-none?wait_ms=10000");
  EXPECT_TRUE(none.status == 404 || (none.status == 200 && json::parse(none.body)["status"] == "unknown_event"))
      << none.status << " " << none.body;
  EXPECT_EQ(http_.request("DELETE", "/api/events/" + fcfs).status, 401) << "admin only";
  // The clear answers: this ingress knows the event is deleted; the processor answers deleted too.
  auto late = http_.post_json("/api/events/" + fcfs + "/claims", json{{"user_id", user(30)}}.dump(), as_user(user(30)));
  EXPECT_EQ(late.status, 404) << late.body;
  EXPECT_EQ(json::parse(late.body)["error"]["code"], "event_deleted") << late.body;
  CommandProducer producer;
  producer.send({unique_id("late"), now_ms(), topics::Claim{hold, user(31)}});
  producer.flush();
  ASSERT_TRUE(log.wait_for({fcfs, hold, raffle}, 12 + 3 + 1, 60s));
  EXPECT_EQ(log.decisions().back().outcome, topics::Outcome::kDeleted);
  // The event as the API shows it comes from the Redis projection: read once the sinks have caught up.
  ASSERT_NO_FATAL_FAILURE(pipeline_caught_up());
  auto shown = json::parse(http_.request("GET", "/api/events/" + fcfs).body);
  EXPECT_EQ(shown["deleted"], true);
  EXPECT_EQ(shown["issued"], 2) << "the counters stay";

  for (const auto& e : {fcfs, hold, raffle}) expect_projections_match(log.decisions(), e);
  EXPECT_EQ(mysql_mentions(), 0) << "a user id of a deleted event is left in MySQL";
  EXPECT_EQ(redis_mentions(), 0u) << "a user id of a deleted event is left in Redis";
  // Nor does the API show one: every claim, confirm and cancel read back (the ingress answers final
  // statuses from its own memory of recent decisions before the projection: a delete purges that too).
  // Only the admin still sees such a claim; its former user gets 404 like anyone else.
  size_t read_back = 0;
  for (const auto& d : log.decisions()) {
    if (d.type != topics::decision_type::kClaim && d.type != topics::decision_type::kConfirm) continue;
    auto seen = http_.request("GET", "/api/claims/" + d.request_id, "", as_admin());
    EXPECT_EQ(seen.status, 200) << d.request_id << ": " << seen.body;
    EXPECT_EQ(seen.body.find(marker), std::string::npos) << "a deleted event's user shown: " << seen.body;
    if (!d.user_id.empty()) {
      EXPECT_EQ(http_.request("GET", "/api/claims/" + d.request_id, "", as_user(d.user_id)).status, 404);
    }
    ++read_back;
  }
  EXPECT_GE(read_back, 10u) << "3 + 2 + 3 claims, a confirm and the late claim";
  EXPECT_EQ(sh(allotctl() + " verify --projections --events " + fcfs + "," + hold + "," + raffle + " --brokers " +
               brokers() + " >/dev/null"),
            0);
  // A replay of allot.decisions from offset 0 writes the users again, then the deletes erase them again.
  ASSERT_EQ(sh("scripts/replay projections >/dev/null"), 0);
  for (const auto& e : {fcfs, hold, raffle}) expect_projections_match(log.decisions(), e);
  EXPECT_EQ(mysql_mentions(), 0) << "after the replay";
  EXPECT_EQ(redis_mentions(), 0u) << "after the replay";

  // The changelog: its records of the events' users are tombstoned; make the broker compact now (roll
  // segments every second, clean at any dirty ratio, keep tombstones 1 s) and read the partitions from
  // the start until no record names a user. Claims on the deleted events append records there (their
  // request markers), so the segments holding the tombstones roll and become cleanable.
  std::set<int32_t> partitions;
  for (const auto& d : log.decisions()) partitions.insert(d.command.partition);
  topics::set_topic_configs(brokers(), "allot.changelog",
                            {{"cleanup.policy", "compact"},
                             {"min.compaction.lag.ms", "0"},
                             {"segment.ms", "1000"},
                             {"min.cleanable.dirty.ratio", "0.01"},
                             {"delete.retention.ms", "1000"}},
                            10000);
  size_t left = 0;
  auto deadline = std::chrono::steady_clock::now() + 300s;  // the cleaner serves the dirtiest logs first
  int rounds = 0;
  do {
    ++rounds;
    for (const auto& e : {fcfs, hold, raffle}) producer.send({unique_id("roll"), now_ms(), topics::Claim{e, "roller"}});
    producer.flush();
    std::this_thread::sleep_for(2s);
    std::vector<kafka::PartitionStart> starts;
    for (int32_t p : partitions) starts.push_back({p, 0, -1});
    left = 0;
    kafka::read_committed_to_end(
        brokers(), "allot.changelog", starts,
        [&](const RdKafka::Message& m) {
          std::string key = m.key() ? *m.key() : "";
          std::string value = m.payload() ? std::string(static_cast<const char*>(m.payload()), m.len()) : "";
          left += (key + " " + value).find(marker) != std::string::npos;
        },
        60s);
  } while (left > 0 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(left, 0u) << "records of the deleted events' users are still in allot.changelog after compaction";
  std::cout << "changelog clean of the users after " << rounds << " rounds\n";
}

}  // namespace
}  // namespace allot
