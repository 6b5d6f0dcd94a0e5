// allot-mega: mega events (issue 14, part 2) measured on the running stack (scripts/stack up).
//
//   allot-mega --fairness [--users 10000] [--stock 1000] [--partitions 4] [--concurrency 64] [--prefix user-]
//       every user claims once through the HTTP ingress, on a mega event and (same run, same load) on an
//       ordinary event; how far the issued set is from global arrival order (the ingress's received_at).
//   allot-mega --throughput --processors P [--claims 200000] [--partitions 4]
//       stops the processors and the sinks, starts processor-1..P and lets the group settle, freezes them
//       (SIGSTOP), produces a mega event of `partitions` slices (its creates and `claims` claims) straight to
//       the slices' partitions, lets them go on (SIGCONT) and measures decisions/s from the first claim
//       decision to the last (decided_at); then stops processor-3/-4 and brings the stack back (`scripts/stack up`).
//
// Both check what landed with topics::verify (per slice and for the event as a whole).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support.h"
#include "topics/slices.h"
#include "topics/verify.h"

namespace {

using namespace allot;
using namespace allot::testsupport;
using nlohmann::json;
using topics::Outcome;

struct Options {
  bool fairness = false, throughput = false;
  int users = 10000, stock = 1000, partitions = 4, concurrency = 64, processors = 2, claims = 200000;
  std::string prefix = "user-";  // user ids are <prefix><i>: another prefix, another split of the users
};

std::vector<std::string> slice_ids(const std::string& event, int k) {
  if (k == 1) return {event};
  std::vector<std::string> ids;
  for (int s = 0; s < k; ++s) ids.push_back(topics::slice_id(event, s));
  return ids;
}

struct Fairness {
  int64_t issued = 0;
  int64_t first_n_won = 0;  // of the first `stock` arrivals, how many got a coupon
  int64_t worst_rank = 0;   // the latest arrival rank among the winners (1-based)
  int64_t mean_rank = 0;
  double seconds = 0;
  std::string verdict;
};

// Every user claims once, over `concurrency` connections; arrival order is the ingress's received_at
// (ms; ties broken by partition and offset), which every decision carries.
Fairness run_fairness(const Options& o, int k) {
  const auto event = unique_id(k > 1 ? "fair-mega" : "fair-one");
  HttpClient admin(http_port());
  json body{{"event_id", event}, {"title", "Fairness"}, {"stock", o.stock}};
  if (k > 1) body["partitions"] = k;
  auto created = admin.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + admin_token()}});
  if (created.status != 202) throw std::runtime_error("create: " + created.body);
  const auto ids = slice_ids(event, k);
  DecisionLog log;
  std::mutex mu;
  std::vector<std::string> accepted;
  std::vector<Headers> auth;  // each user's token, signed with the stack's secret before the clock starts
  auth.reserve(static_cast<size_t>(o.users));
  for (int i = 0; i < o.users; ++i) auth.push_back(as_user(o.prefix + std::to_string(i)));
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      HttpClient http(http_port());
      for (int i = t; i < o.users; i += o.concurrency) {
        HttpResponse r;
        for (int attempt = 0; attempt < 20; ++attempt) {
          try {
            r = http.post_json("/api/events/" + event + "/claims",
                               json{{"user_id", o.prefix + std::to_string(i)}}.dump(), auth[static_cast<size_t>(i)]);
          } catch (const std::exception&) {
            r = {};
          }
          if (r.status == 202) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (r.status != 202) continue;
        auto j = json::parse(r.body, nullptr, false);
        std::lock_guard lock(mu);
        accepted.push_back(j.value("request_id", ""));
      }
    });
  }
  for (auto& th : threads) th.join();
  Fairness f;
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log.wait_for(ids, accepted.size() + ids.size(), std::chrono::seconds(300));
  auto report = topics::verify({{}, log.decisions(), accepted});
  f.verdict = report.ok() ? "clean" : "VIOLATED: " + report.summary();
  std::vector<const topics::Decision*> claims;
  for (const auto& d : log.decisions()) {
    if (d.type == "claim") claims.push_back(&d);
  }
  std::sort(claims.begin(), claims.end(), [](const auto* a, const auto* b) {
    if (a->received_at != b->received_at) return a->received_at < b->received_at;
    if (a->command.partition != b->command.partition) return a->command.partition < b->command.partition;
    return a->command.offset < b->command.offset;
  });
  int64_t rank_sum = 0;
  for (size_t i = 0; i < claims.size(); ++i) {
    if (claims[i]->outcome != Outcome::kIssued) continue;
    ++f.issued;
    const auto rank = static_cast<int64_t>(i) + 1;
    rank_sum += rank;
    f.worst_rank = std::max(f.worst_rank, rank);
    if (rank <= o.stock) ++f.first_n_won;
  }
  f.mean_rank = f.issued ? rank_sum / f.issued : 0;
  return f;
}

int fairness(const Options& o) {
  auto mega = run_fairness(o, o.partitions);
  auto one = run_fairness(o, 1);
  std::cout << "Fairness: " << o.users << " users (" << o.prefix << "0..) claim once each through the HTTP ingress ("
            << o.concurrency << " connections), " << o.stock
            << " coupons; arrival order = the ingress's received_at (ms, ties by partition/offset).\n\n";
  std::cout << "| event | claims/s sent | issued | of the first " << o.stock
            << " arrivals, got a coupon | worst arrival rank of a winner | mean arrival rank of winners | verify |\n";
  std::cout << "|---|---:|---:|---:|---:|---:|---|\n";
  for (auto [name, f] : {std::pair{"partitions " + std::to_string(o.partitions), mega},
                         std::pair{std::string("partitions 1 (same run)"), one}}) {
    std::cout << "| " << name << " | " << std::fixed << std::setprecision(0) << o.users / f.seconds << " | " << f.issued
              << " | " << f.first_n_won << " (" << std::setprecision(1)
              << 100.0 * static_cast<double>(f.first_n_won) / o.stock << "%) | " << f.worst_rank << " | " << f.mean_rank
              << " | " << f.verdict << " |\n";
  }
  return mega.verdict == "clean" && one.verdict == "clean" ? 0 : 1;
}

int throughput(const Options& o) {
  const int k = o.partitions;
  std::cerr << "allot-mega: stopping processors and sinks\n";
  sh("scripts/stack stop processor-1 processor-2 processor-3 processor-4 sink-mysql sink-redis >/dev/null 2>&1");
  const auto event = unique_id(k > 1 ? "tput-mega" : "tput-one");
  const auto ids = slice_ids(event, k);
  auto n = [] {
    auto p = kafka::make_producer({{"bootstrap.servers", brokers()}});
    return kafka::partition_count(*p, "allot.commands", std::chrono::seconds(10));
  }();
  // The processors first, all of them, and time for the group to settle (the stack's broker rebalances
  // at once, group.initial.rebalance.delay.ms=0): a preloaded backlog would be half done by the first
  // processor before the last one joined. Then the load, produced faster than the processors decide it,
  // so a backlog builds at once; the rate is measured from the first claim decision to the last.
  std::string names;
  for (int p = 1; p <= o.processors; ++p) names += " processor-" + std::to_string(p);
  std::cerr << "allot-mega: starting" << names << "\n";
  sh("scripts/stack start" + names + " >/dev/null");
  std::this_thread::sleep_for(std::chrono::seconds(12));
  DecisionLog log;  // from here on
  // Frozen (SIGSTOP) while the load is produced, so it is all there when they go on (SIGCONT): the rate
  // is the processors', not the producer's. Within the 10 s session timeout, so the group stays as it is.
  auto each_processor = [&](int signal) {
    for (int p = 1; p <= o.processors; ++p) signal_service("processor-" + std::to_string(p), signal);
  };
  each_processor(SIGSTOP);
  auto started = std::chrono::steady_clock::now();
  CommandProducer producer;
  const int64_t now = now_ms();
  const int64_t stock = o.claims / 4;  // a quarter issues, then the event is sold out
  for (int s = 0; s < k; ++s) {
    topics::CreateEvent e{
        k > 1 ? ids[static_cast<size_t>(s)] : event, "Throughput", topics::slice_stock(stock, k, s), 1, {}, {}};
    if (k > 1) {
      e.partitions = k;
      e.total_stock = stock;
    }
    producer.send({"create-" + event + "-" + std::to_string(s), now, e},
                  k > 1 ? topics::slice_partition(event, s, n) : -1);
  }
  for (int i = 0; i < o.claims; ++i) {
    const auto user = "user-" + std::to_string(i);
    const int s = topics::user_slice(user, k);
    producer.send(
        {"c-" + event + "-" + std::to_string(i), now, topics::Claim{k > 1 ? ids[static_cast<size_t>(s)] : event, user}},
        k > 1 ? topics::slice_partition(event, s, n) : -1);
  }
  producer.flush();
  const double produced_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  each_processor(SIGCONT);
  const size_t total = static_cast<size_t>(o.claims) + static_cast<size_t>(k);
  bool all = log.wait_for(ids, total, std::chrono::seconds(600));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  int64_t first = INT64_MAX, last = 0;
  std::map<int32_t, int64_t> per_partition;
  for (const auto& d : log.decisions()) {
    if (d.type != "claim") continue;
    first = std::min(first, d.decided_at);
    last = std::max(last, d.decided_at);
    ++per_partition[d.command.partition];
  }
  auto report = topics::verify({{}, log.decisions(), {}});
  const double span = static_cast<double>(last - first) / 1000.0;
  std::cout << "| " << k << " | " << o.processors << " | " << o.claims << " | " << std::fixed << std::setprecision(2)
            << span << " | " << std::setprecision(0) << (span > 0 ? o.claims / span : 0) << " | "
            << std::setprecision(1) << wall << " | " << per_partition.size() << " | " << std::setprecision(1)
            << produced_s << " | " << (all && report.ok() ? "clean" : "VIOLATED " + report.summary()) << " |\n";
  // Back to the usual stack: processor-1, -2 and the sinks (they catch up on what they missed).
  sh("scripts/stack stop processor-3 processor-4 >/dev/null 2>&1");
  sh("scripts/stack up >/dev/null");
  return all && report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return std::stoi(argv[++i]);
    };
    if (a == "--fairness") o.fairness = true;
    else if (a == "--throughput") o.throughput = true;
    else if (a == "--users") o.users = next();
    else if (a == "--stock") o.stock = next();
    else if (a == "--partitions") o.partitions = next();
    else if (a == "--concurrency") o.concurrency = next();
    else if (a == "--processors") o.processors = next();
    else if (a == "--claims") o.claims = next();
    else if (a == "--prefix" && i + 1 < argc) o.prefix = argv[++i];
    else {
      std::cerr << "usage: allot-mega --fairness [--users N] [--stock N] [--partitions K] [--concurrency C]\n"
                   "       allot-mega --throughput --processors P [--claims N] [--partitions K]\n";
      return 2;
    }
  }
  try {
    if (o.fairness) return fairness(o);
    if (o.throughput) return throughput(o);
  } catch (const std::exception& e) {
    std::cerr << "allot-mega: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "allot-mega: say --fairness or --throughput\n";
  return 2;
}
