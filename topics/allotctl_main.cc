// allotctl: the operator's tool.
//   allotctl topics apply [--brokers B] [--file topics/topics.json]   create missing topics, report drift
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "topics/admin.h"

namespace {

int usage() {
  std::cerr << "usage: allotctl topics apply [--brokers HOST:PORT] [--file topics.json]\n";
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
  auto report = allot::topics::apply_specs(brokers, allot::topics::parse_specs(text.str()), 15000);
  for (const auto& t : report.created) std::cout << "created   " << t << "\n";
  for (const auto& t : report.unchanged) std::cout << "ok        " << t << "\n";
  for (const auto& t : report.drifted) std::cout << "DIFFERS   " << t << "\n";
  return report.drifted.empty() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 2 && args[0] == "topics" && args[1] == "apply") return topics_apply(args);
    return usage();
  } catch (const std::exception& e) {
    std::cerr << "allotctl: " << e.what() << "\n";
    return 1;
  }
}
