#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace allot::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

std::string format_labels(const Labels& labels, const std::string& extra_key = "",
                          const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  if (!extra_key.empty()) {
    if (!first) out += ",";
    out += extra_key + "=\"" + escape_label_value(extra_value) + "\"";
  }
  return out + "}";
}

std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

void Counter::inc(double v) { atomic_add(value_, v); }
void Gauge::add(double v) { atomic_add(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = running;  // the +Inf bucket, so count and buckets agree
  return s;
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

template <typename T>
T& Family<T>::with(const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = series_[labels];
  if (!slot) {
    if constexpr (std::is_same_v<T, Histogram>) {
      slot = std::make_shared<T>(bounds_);
    } else {
      slot = std::make_shared<T>();
    }
  }
  return *slot;
}

template <typename T>
void Family<T>::remove(const Labels& labels) {
  std::lock_guard lock(mu_);
  series_.erase(labels);
}

template <typename T>
std::vector<std::pair<Labels, std::shared_ptr<const T>>> Family<T>::series() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Labels, std::shared_ptr<const T>>> out;
  for (const auto& [labels, s] : series_) out.emplace_back(labels, s);
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& Registry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  return *counters_.emplace_back(std::make_unique<Family<Counter>>(name, help));
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  return *gauges_.emplace_back(std::make_unique<Family<Gauge>>(name, help));
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  return *histograms_.emplace_back(std::make_unique<Family<Histogram>>(name, help, std::move(bounds)));
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : counters_) {
    out += "# HELP " + f->name() + " " + escape_help(f->help()) + "\n# TYPE " + f->name() + " counter\n";
    for (const auto& [labels, c] : f->series()) {
      out += f->name() + format_labels(labels) + " " + format_number(c->value()) + "\n";
    }
  }
  for (const auto& f : gauges_) {
    out += "# HELP " + f->name() + " " + escape_help(f->help()) + "\n# TYPE " + f->name() + " gauge\n";
    for (const auto& [labels, g] : f->series()) {
      out += f->name() + format_labels(labels) + " " + format_number(g->value()) + "\n";
    }
  }
  for (const auto& f : histograms_) {
    out += "# HELP " + f->name() + " " + escape_help(f->help()) + "\n# TYPE " + f->name() + " histogram\n";
    for (const auto& [labels, h] : f->series()) {
      auto s = h->snapshot();
      for (size_t i = 0; i < s.cumulative.size(); ++i) {
        double le = i < s.bounds.size() ? s.bounds[i] : INFINITY;
        out += f->name() + "_bucket" + format_labels(labels, "le", format_number(le)) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      }
      out += f->name() + "_sum" + format_labels(labels) + " " + format_number(s.sum) + "\n";
      out += f->name() + "_count" + format_labels(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace allot::metrics
