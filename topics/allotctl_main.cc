// allotctl: the operator's tool.
//   allotctl topics apply [--brokers B] [--file topics/topics.json] [--cluster-size N] [--partitions P]
//       creates missing topics, reports drift (partitions, replication factor, configs, min.insync.replicas)
//       and the internal topics'; replication fitted to N brokers (else ALLOT_KAFKA_NODES, else the brokers
//       that answer); allot's topics get P partitions (else ALLOT_TOPIC_PARTITIONS, else the file's): exit 3
//       when anything differs (a topic's partitions are never changed once created)
//   allotctl groups delete GROUP... [--brokers B]                      forget groups' offsets (for replays)
//   allotctl groups wait GROUP TOPIC [--timeout S] [--brokers B]       wait until GROUP has consumed TOPIC
//   allotctl verify [--events E1,E2] [--wallets U1,U2] [--accepted FILE] [--projections] [--draw] [--brokers B]
//       checks every invariant of DESIGN §4 on allot.commands and allot.decisions (read_committed): each
//       command and each request id in FILE (one per line: the ids a client saw answered 202) decided
//       exactly once, stock, sequences, limits, first come first served, and every wallet's money
//       (topics/verify_wallets.h; with --events only the wallets --wallets names); with --projections also
//       that MySQL and Redis equal the decisions; with --draw also prints every drawn raffle's winners (and every
//       waiting room's shuffled pre-queue), re-derived from the log (topics/draw.h) and compared with the draw's
//       decisions. Prints a verdict with counts; exits 1 on any violation.
//   allotctl token --user ID [--ttl 1h|30m|90s] [--admin]
//       prints an HS256 token for ID signed with the stack's secret (ALLOT_JWT_HS256_SECRET, else the file
//       ALLOT_JWT_HS256_SECRET_FILE names, else .run/jwt-secret), iss/aud from ALLOT_JWT_ISSUER/AUDIENCE:
//       the demo's and the tests' sign-in (README "Who is the user"); --admin adds scope allot:admin
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <algorithm>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/identity/identity.h"
#include "common/kafka.h"
#include "topics/admin.h"
#include "topics/claim_status.h"
#include "topics/projection_check.h"
#include "topics/slices.h"
#include "topics/verify.h"
#include "topics/verify_wallets.h"

namespace {

int usage() {
  std::cerr << "usage: allotctl topics apply [--brokers HOST:PORT,...] [--file topics.json] [--cluster-size N]\n"
               "                            [--partitions P]\n"
               "       allotctl groups delete GROUP... [--brokers HOST:PORT]\n"
               "       allotctl groups wait GROUP TOPIC [--timeout SECONDS] [--brokers HOST:PORT]\n"
               "       allotctl verify [--events E1,E2] [--wallets U1,U2] [--accepted FILE] [--projections] [--draw]\n"
               "                       [--brokers HOST:PORT]\n"
               "       allotctl token --user ID [--ttl 1h|30m|90s] [--admin]\n";
  return 2;
}

// Value of `--name` in args, or fallback.
std::string flag(const std::vector<std::string>& args, const std::string& name, const std::string& fallback) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return fallback;
}

int topics_apply(const std::vector<std::string>& args) {
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  auto file = flag(args, "--file", "topics/topics.json");
  std::ifstream in(file);
  if (!in) {
    std::cerr << "allotctl: cannot read " << file << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  // The size the cluster is meant to have: a broker that is down must not lower the replication wanted.
  int cluster_size = std::stoi(flag(args, "--cluster-size", std::to_string(allot::env_int("ALLOT_KAFKA_NODES", 0, 0))));
  auto specs = allot::topics::parse_specs(text.str());
  // The flag, else the variable; 0 or neither: as the file says.
  int64_t partitions = 0;
  if (auto at = std::find(args.begin(), args.end(), "--partitions"); at != args.end()) {
    const std::string given = at + 1 != args.end() ? *(at + 1) : "";
    size_t used = 0;
    try {
      partitions = std::stoll(given, &used);
    } catch (const std::exception&) {
      used = 0;  // empty or not a number: refused below
    }
    if (given.empty() || used != given.size() || partitions < 1 || partitions > 9999) {
      throw std::invalid_argument("--partitions '" + given + "' is not an integer in [1, 9999]");
    }
  } else {
    partitions = allot::env_int("ALLOT_TOPIC_PARTITIONS", 0, 0, 9999);
  }
  if (partitions != 0) specs = allot::topics::with_partitions(std::move(specs), static_cast<int32_t>(partitions));
  auto report = allot::topics::apply_specs(brokers, specs, 15000, cluster_size);
  std::cout << "cluster   " << report.cluster_size << " broker(s)" << (cluster_size > 0 ? " (as told)" : " (counted)")
            << ", " << report.brokers_answering << " answering\n";
  for (const auto& t : report.created) std::cout << "created   " << t << "\n";
  for (const auto& t : report.unchanged) std::cout << "ok        " << t << "\n";
  for (const auto& t : report.absent) std::cout << "absent    " << t << "\n";
  for (const auto& t : report.altered) std::cout << "CONFIGS SET " << t << "\n";
  for (const auto& t : report.drifted) std::cout << "DIFFERS   " << t << "\n";
  return report.drifted.empty() ? 0 : 3;
}

int groups_delete(const std::vector<std::string>& args) {
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  std::vector<std::string> groups;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--brokers") {
      ++i;
      continue;
    }
    groups.push_back(args[i]);
  }
  if (groups.empty()) return usage();
  allot::topics::delete_groups(brokers, groups, 15000);
  for (const auto& g : groups) std::cout << "deleted group " << g << "\n";
  return 0;
}

// Lag of `group` on `topic`: per partition, end minus committed, where a partition counts as consumed
// when what lies past its committed offset is only transaction markers and aborted records (a
// read_committed consumer is never handed those, so it may not have committed past them). -1 when the
// offsets cannot be read. Each request waits at most `wait` (at most 5 s).
int64_t group_lag(RdKafka::KafkaConsumer& c, const std::string& brokers, const std::string& topic, int32_t partitions,
                  std::chrono::milliseconds wait) {
  const int wait_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 1, 5000));
  allot::kafka::PartitionList tps;
  for (int32_t p = 0; p < partitions; ++p) tps.items.push_back(RdKafka::TopicPartition::create(topic, p));
  if (c.committed(tps.items, wait_ms) != RdKafka::ERR_NO_ERROR) return -1;
  std::map<int32_t, int64_t> behind;
  std::vector<allot::kafka::PartitionStart> ranges;
  for (auto* tp : tps.items) {
    int64_t low = 0, high = 0;
    if (allot::kafka::watermarks(c, topic, tp->partition(), &low, &high, std::chrono::milliseconds(wait_ms)) !=
        RdKafka::ERR_NO_ERROR)
      return -1;
    int64_t committed = tp->offset() < 0 ? low : tp->offset();
    if (high > committed) {
      behind[tp->partition()] = high - committed;
      ranges.push_back({tp->partition(), committed, high});
    }
  }
  if (ranges.empty()) return 0;
  std::set<int32_t> unconsumed;
  try {
    unconsumed =
        allot::kafka::partitions_with_committed_records(brokers, topic, ranges, std::chrono::milliseconds(wait_ms));
  } catch (const std::exception&) {
    for (const auto& r : ranges) unconsumed.insert(r.partition);  // an open transaction: not caught up yet
  }
  int64_t lag = 0;
  for (int32_t p : unconsumed) lag += behind[p];
  return lag;
}

int groups_wait(const std::vector<std::string>& args) {
  if (args.size() < 4) return usage();
  const auto& group = args[2];
  const auto& topic = args[3];
  auto brokers = flag(args, "--brokers", allot::env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  int timeout_s = std::stoi(flag(args, "--timeout", "300"));
  auto c = allot::kafka::make_consumer(
      {{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"}});
  int32_t partitions = allot::kafka::partition_count(*c, topic, std::chrono::seconds(10));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int64_t lag = -1;
  // A round's requests wait no longer than what is left, so --timeout is kept within a round's few requests.
  for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
    lag = group_lag(*c, brokers, topic, partitions,
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (lag == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (auto code = c->close(); code != RdKafka::ERR_NO_ERROR) {
    std::cerr << "closing the consumer: " << RdKafka::err2str(code) << "\n";  // the lag read stands
  }
  std::cout << group << " on " << topic << ": lag " << lag << "\n";
  return lag == 0 ? 0 : 1;
}

bool has_flag(const std::vector<std::string>& args, const std::string& name) {
  return std::find(args.begin(), args.end(), name) != args.end();
}

std::set<std::string> split_commas(const std::string& text) {
  std::set<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

int verify(const std::vector<std::string>& args) {
  using namespace allot;
  auto brokers = flag(args, "--brokers", env_string("ALLOT_KAFKA_BROKERS", "127.0.0.1:19092"));
  auto events = split_commas(flag(args, "--events", ""));
  auto wallet_users = split_commas(flag(args, "--wallets", ""));
  // A mega event's slices ("<id>~<k>", topics/slices.h) are wanted with it. Naming only wallets checks no event.
  auto wanted = [&](const std::string& e) {
    if (events.empty()) return wallet_users.empty();
    if (events.count(e) > 0) return true;
    auto slice = topics::parse_slice_id(e);
    return slice && events.count(slice->parent) > 0;
  };
  // Every wallet when nothing is named; else those named with --wallets.
  const bool check_wallets = !wallet_users.empty() || events.empty();
  auto wallet_wanted = [&](const std::string& user) {
    return wallet_users.empty() ? events.empty() : wallet_users.count(user) > 0;
  };
  const auto timeout = std::chrono::minutes(5);

  topics::VerifyInput input;
  int64_t undecodable = 0;
  kafka::read_all_committed(
      brokers, "allot.commands",
      [&](const RdKafka::Message& m) {
        try {
          auto c = topics::decode_command(std::string_view(static_cast<const char*>(m.payload()), m.len()));
          const auto* wallet_user = c.wallet_user();
          if (wallet_user ? wallet_wanted(*wallet_user) : wanted(c.event_id())) {
            input.commands.push_back({{m.partition(), m.offset()}, std::move(c)});
          }
        } catch (const topics::DecodeError&) {
          ++undecodable;  // the processor skips these too, without a decision
        }
      },
      timeout);
  kafka::read_all_committed(
      brokers, "allot.decisions",
      [&](const RdKafka::Message& m) {
        auto d = topics::decode_decision(std::string_view(static_cast<const char*>(m.payload()), m.len()));
        if (topics::is_wallet_keyed(d) ? wallet_wanted(d.user_id) : wanted(d.event_id)) {
          input.decisions.push_back(std::move(d));
        }
      },
      timeout);
  if (auto file = flag(args, "--accepted", ""); !file.empty()) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "allotctl: cannot read " << file << "\n";
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) input.accepted.push_back(line);
    }
  }
  if (!events.empty()) {
    input.events_read = events;
  } else if (!wallet_users.empty()) {
    input.events_read.emplace();  // no event was read
  }
  if (!check_wallets) {
    input.wallet_users.emplace();  // no wallet was read
  } else if (!wallet_users.empty()) {
    input.wallet_users = wallet_users;
  }
  auto report = topics::verify(input);
  std::cout << "kafka: " << report.summary()
            << (undecodable ? " undecodable_commands=" + std::to_string(undecodable) : "") << "\n";
  bool ok = report.ok();
  if (has_flag(args, "--draw")) {
    // The winners as the published draw gives them for the logged entries and the closing position; any
    // difference from the draw's decisions is a violation above.
    for (const auto& [event, winners] : report.draws) {
      std::cout << "draw " << event << ": " << winners.size() << " winners, in rank order:";
      for (const auto& user : winners) std::cout << " " << user;
      std::cout << "\n";
    }
    // The same for waiting rooms: the pre-queue's tickets as the shuffle gives them.
    for (const auto& [event, users] : report.shuffles) {
      std::cout << "pre-queue " << event << ": " << users.size() << " users, by ticket:";
      for (const auto& user : users) std::cout << " " << user;
      std::cout << "\n";
    }
  }

  if (has_flag(args, "--projections")) {
    std::set<std::string> checked = events;
    for (const auto& d : input.decisions) {  // a mega event's projections are its slices'
      auto slice = topics::parse_slice_id(d.event_id);
      if (d.outcome == topics::Outcome::kCreated && slice && (events.empty() || events.count(slice->parent))) {
        checked.insert(d.event_id);
        checked.erase(slice->parent);  // it has no projection of its own
      }
    }
    if (checked.empty()) {
      for (const auto& d : input.decisions) {
        if (d.outcome == topics::Outcome::kCreated) checked.insert(d.event_id);
      }
    }
    topics::StoreAddress where;
    where.mysql_host = env_string("ALLOT_MYSQL_HOST", where.mysql_host);
    where.mysql_port = static_cast<int>(env_int("ALLOT_MYSQL_PORT", where.mysql_port));
    where.mysql_user = env_string("ALLOT_MYSQL_USER", where.mysql_user);
    where.mysql_password = env_string("ALLOT_MYSQL_PASSWORD", "");
    where.mysql_database = env_string("ALLOT_MYSQL_DATABASE", where.mysql_database);
    where.redis_host = env_string("ALLOT_REDIS_HOST", where.redis_host);
    where.redis_port = static_cast<int>(env_int("ALLOT_REDIS_PORT", where.redis_port));
    where.redis_prefix = env_string("ALLOT_REDIS_PREFIX", where.redis_prefix);
    int differing = 0;
    for (const auto& event : checked) {
      auto want = topics::expected_projection(input.decisions, event);
      const auto ids = topics::request_ids(want);
      auto in_mysql = topics::describe_difference(want, topics::mysql_projection(where, event));
      auto in_redis = topics::describe_difference(want, topics::redis_projection(where, event, ids));
      if (!in_mysql.empty()) std::cout << "  MySQL differs for " << event << ": " << in_mysql << "\n";
      if (!in_redis.empty()) std::cout << "  Redis differs for " << event << ": " << in_redis << "\n";
      differing += !in_mysql.empty() || !in_redis.empty();
    }
    size_t wallets = 0, orders = 0;
    if (check_wallets) {
      auto want = topics::expected_wallets(input.decisions);
      wallets = want.size();
      std::vector<std::string> owners;
      for (const auto& [user, w] : want) owners.push_back(user);
      auto in_store = topics::mysql_wallets(where);
      std::erase_if(in_store, [&](const auto& wallet) { return !wallet_wanted(wallet.first); });
      auto in_mysql = topics::describe_wallet_difference(want, in_store);
      auto in_redis = topics::describe_wallet_difference(
          topics::expected_wallets(input.decisions, topics::kRedisLedgerKept), topics::redis_wallets(where, owners));
      if (!in_mysql.empty()) std::cout << "  MySQL differs for wallets: " << in_mysql << "\n";
      if (!in_redis.empty()) std::cout << "  Redis differs for wallets: " << in_redis << "\n";
      differing += !in_mysql.empty() || !in_redis.empty();
      // Orders live on their users' wallet partitions: read with the wallets.
      auto want_orders = topics::expected_orders(input.decisions);
      orders = want_orders.size();
      std::vector<std::string> order_ids;
      for (const auto& [id, o] : want_orders) order_ids.push_back(id);
      auto orders_in_store = topics::mysql_orders(where);
      std::erase_if(orders_in_store, [&](const auto& order) { return !wallet_wanted(order.second.user_id); });
      auto orders_in_mysql = topics::describe_order_difference(want_orders, orders_in_store);
      auto orders_in_redis = topics::describe_order_difference(want_orders, topics::redis_orders(where, order_ids));
      if (!orders_in_mysql.empty()) std::cout << "  MySQL differs for orders: " << orders_in_mysql << "\n";
      if (!orders_in_redis.empty()) std::cout << "  Redis differs for orders: " << orders_in_redis << "\n";
      differing += !orders_in_mysql.empty() || !orders_in_redis.empty();
    }
    std::cout << "projections: " << (differing ? "VIOLATED" : "OK") << ": events=" << checked.size()
              << " wallets=" << wallets << " orders=" << orders << " differing=" << differing << "\n";
    ok = ok && differing == 0;
  }
  std::cout << "verdict: " << (ok ? "CLEAN" : "VIOLATIONS") << "\n";
  return ok ? 0 : 1;
}

// "1h", "30m", "90s" or plain seconds.
int64_t duration_s(const std::string& text) {
  size_t used = 0;
  int64_t n = std::stoll(text, &used);
  std::string unit = text.substr(used);
  int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (scale == 0 || n <= 0) throw std::invalid_argument("--ttl " + text + ": a positive number with s, m, h or d");
  return n * scale;
}

int token(const std::vector<std::string>& args) {
  auto user = flag(args, "--user", "");
  if (user.empty()) return usage();
  auto settings = allot::identity::settings_from_env();
  if (settings.hs256_secret.empty()) {
    auto run_dir = allot::env_string("ALLOT_RUN_DIR", ".run");
    std::ifstream in(run_dir + "/jwt-secret");
    std::getline(in, settings.hs256_secret);
  }
  if (settings.hs256_secret.empty()) {
    std::cerr << "allotctl token: no HS256 secret (ALLOT_JWT_HS256_SECRET[_FILE], or .run/jwt-secret from "
                 "scripts/stack up)\n";
    return 1;
  }
  allot::identity::MintOptions o;
  o.user_id = user;
  o.issuer = settings.issuer;
  o.audience = settings.audience;
  o.issued_at_s = allot::now_ms() / 1000;
  o.ttl_s = duration_s(flag(args, "--ttl", "1h"));
  o.admin = std::find(args.begin(), args.end(), "--admin") != args.end();
  std::cout << allot::identity::mint_hs256(settings.hs256_secret, o) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 2 && args[0] == "topics" && args[1] == "apply") return topics_apply(args);
    if (args.size() >= 2 && args[0] == "groups" && args[1] == "delete") return groups_delete(args);
    if (args.size() >= 2 && args[0] == "groups" && args[1] == "wait") return groups_wait(args);
    if (!args.empty() && args[0] == "verify") return verify(args);
    if (!args.empty() && args[0] == "token") return token(args);
    return usage();
  } catch (const std::exception& e) {
    std::cerr << "allotctl: " << e.what() << "\n";
    return 1;
  }
}
