#pragma once
// A small Prometheus text-exposition module (prometheus-cpp is not installable here).
// A Registry owns metric families; each family hands out one series per label set. Series are
// lock-free to update (atomics) and safe to use from any thread; render() is called by /metrics.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace allot::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void inc(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Cumulative counts per bound (the last one is +Inf), the sum and the count, consistent enough
  // for scraping (each atomic is read once).
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

// Latency buckets in seconds, from 0.5 ms to 30 s.
std::vector<double> latency_buckets();

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}
  // The series for `labels`, created on first use; the reference stays valid until remove(labels).
  T& with(const Labels& labels = {});
  // Drops a series (e.g. an event that no longer moves), so that series do not grow without bound.
  void remove(const Labels& labels);
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  // Shared, so that a render in progress keeps the series it is reading alive across a remove().
  std::vector<std::pair<Labels, std::shared_ptr<const T>>> series() const;

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, std::shared_ptr<T>> series_;
};

class Registry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help);
  Family<Gauge>& gauge(const std::string& name, const std::string& help);
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds = latency_buckets());
  // The whole registry in the Prometheus text format, version 0.0.4.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(const std::string& v);

}  // namespace allot::metrics
