#pragma once
// Small helpers of the integration tests that drive the running stack through its HTTP API and read what
// landed in allot.decisions; header-only, for test files that link GoogleTest and nlohmann/json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support.h"
#include "topics/messages.h"

namespace allot::testsupport {

// POST /api/events with the admin token; the test fails unless the ingress answers 202.
inline void create_event(const nlohmann::json& body) {
  HttpClient http(http_port(), http_host());
  auto r = http.post_json("/api/events", body.dump(), {{"Authorization", "Bearer " + admin_token()}});
  ASSERT_EQ(r.status, 202) << r.body;
}

// A string field of a JSON answer, or "" when the body is not an object with that string.
inline std::string json_field(const HttpResponse& r, const char* name) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains(name) && j.at(name).is_string() ? j.at(name).get<std::string>() : "";
}

// How many decisions have this type and outcome.
inline size_t count_decisions(const std::vector<topics::Decision>& ds, std::string_view type, topics::Outcome outcome) {
  return static_cast<size_t>(std::count_if(
      ds.begin(), ds.end(), [&](const topics::Decision& d) { return d.type == type && d.outcome == outcome; }));
}

// Waits (bounded by `timeout_s` each) until the processors have decided every command (also the ones a
// decision emitted, such as an order's last steps after its result) and then both sinks have projected every
// committed decision; fails the test otherwise.
inline void pipeline_caught_up(int timeout_s = 120) {
  const std::string allotctl = std::string(ALLOT_BUILD_DIR) + "/topics/allotctl";
  const std::pair<const char*, const char*> groups[] = {{"allot-processor", "allot.commands"},
                                                        {"allot-sink-mysql", "allot.decisions"},
                                                        {"allot-sink-redis", "allot.decisions"}};
  for (const auto& [group, topic] : groups) {
    ASSERT_EQ(sh(allotctl + " groups wait " + group + " " + topic + " --timeout " + std::to_string(timeout_s) +
                 " --brokers " + brokers() + " >/dev/null"),
              0)
        << group;
  }
}

// Brings every service of the stack back (after a test killed or stopped some); fails the test otherwise.
inline void stack_up() { ASSERT_EQ(sh("scripts/stack up >/dev/null"), 0) << "scripts/stack up failed"; }

}  // namespace allot::testsupport
