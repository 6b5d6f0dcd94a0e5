// Google Benchmark of the pure core: decide() over an in-memory state, no Kafka, no RocksDB.
// The ceiling the exactly-once runner is measured against (bench/README.md).
//   build/bench/allot-bench-decide
#include <benchmark/benchmark.h>

#include <unordered_map>

#include "processors/domain.h"

namespace {

using namespace allot;

class MapState : public processors::StateView {
 public:
  std::optional<std::string> get(const std::string& key) const override {
    auto it = kv.find(key);
    return it == kv.end() ? std::nullopt : std::optional(it->second);
  }
  void scan(std::string_view, const OnRecord&) const override {}  // a claim never scans
  std::unordered_map<std::string, std::string> kv;
};

void BM_DecideClaim(benchmark::State& st) {
  MapState state;
  processors::EventState ev{{"e", "t", st.range(0), 1, {}, {}}, 0};
  state.kv[processors::event_key("e")] = processors::encode_event(ev);
  int64_t i = 0;
  for (auto _ : st) {
    topics::Command c{"r" + std::to_string(i), 0, topics::Claim{"e", "u" + std::to_string(i)}};
    auto r = processors::decide(state, c, {0, i}, 0);
    for (auto& w : r->writes) state.kv[w.key] = std::move(*w.value);  // claims write no tombstones
    ++i;
  }
  st.SetItemsProcessed(st.iterations());
}
// stock 100: almost every claim is sold_out; stock 10^9: every claim issues (more state writes)
BENCHMARK(BM_DecideClaim)->Arg(100)->Arg(1000000000);

void BM_DecodeCommand(benchmark::State& st) {
  auto text = topics::encode(
      topics::Command{"0123456789abcdef0123456789abcdef", 1795333479210, topics::Claim{"spring-sale", "user-12345"}});
  for (auto _ : st) benchmark::DoNotOptimize(topics::decode_command(text));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DecodeCommand);

// A claim's decision as every reader of allot.decisions meets it (the ingress's decisions reader, the sinks,
// allotctl verify); Arg(1) appends an unknown member, which sends it the JSON library's way (the path all
// decisions took before the flat reader).
void BM_DecodeDecision(benchmark::State& st) {
  topics::Decision d;
  d.type = "claim";
  d.request_id = "0123456789abcdef0123456789abcdef";
  d.event_id = "spring-sale";
  d.user_id = "user-12345";
  d.outcome = topics::Outcome::kIssued;
  d.coupon_seq = 42;
  d.remaining = 58;
  d.command = {3, 123456};
  d.decided_at = 1795333479250;
  d.received_at = 1795333479210;
  auto text = topics::encode(d);
  if (st.range(0) == 1) text.insert(text.size() - 1, R"(,"x":[1])");
  for (auto _ : st) benchmark::DoNotOptimize(topics::decode_decision(text));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DecodeDecision)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
