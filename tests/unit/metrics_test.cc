#include "common/metrics.h"

#include <gtest/gtest.h>

namespace allot::metrics {
namespace {

TEST(Metrics, RendersCountersGaugesAndHistograms) {
  Registry r;
  r.counter("allot_x_total", "Things").with({{"route", "claim"}, {"status", "202"}}).inc(3);
  r.gauge("allot_g", "A gauge").with().set(1.5);
  auto& h = r.histogram("allot_h_seconds", "Latency", {0.1, 1}).with({{"route", "a"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  auto text = r.render();
  EXPECT_NE(text.find("# TYPE allot_x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("allot_x_total{route=\"claim\",status=\"202\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("allot_g 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("allot_h_seconds_bucket{route=\"a\",le=\"0.10000000000000001\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("allot_h_seconds_bucket{route=\"a\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("allot_h_seconds_count{route=\"a\"} 3\n"), std::string::npos);
}

TEST(Metrics, ARemovedSeriesLeavesTheExpositionAndComesBackOnUse) {
  Registry r;
  auto& g = r.gauge("allot_g", "A gauge");
  g.with({{"event_id", "a"}}).set(1);
  g.with({{"event_id", "b"}}).set(2);
  auto held = g.series();  // a render in progress keeps what it reads
  g.remove({{"event_id", "a"}});
  EXPECT_EQ(held.size(), 2U);
  EXPECT_EQ(held[0].second->value(), 1);
  auto text = r.render();
  EXPECT_EQ(text.find("allot_g{event_id=\"a\"}"), std::string::npos);
  EXPECT_NE(text.find("allot_g{event_id=\"b\"} 2\n"), std::string::npos);
  g.with({{"event_id", "a"}}).set(3);
  EXPECT_NE(r.render().find("allot_g{event_id=\"a\"} 3\n"), std::string::npos);
}

TEST(Metrics, EscapesLabelValues) { EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd"); }

}  // namespace
}  // namespace allot::metrics
