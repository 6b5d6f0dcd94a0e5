#include "topics/orders.h"

#include <algorithm>
#include <cstdio>

#include "topics/slices.h"

namespace allot::topics {

std::string order_request_id(std::string_view order_id, OrderStepKind step, int32_t line, OrderStepKind answered) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(order_id)));
  std::string id = "os-" + std::string(hex) + "-" + static_cast<char>(step);
  if (step == OrderStepKind::kAnswer) id += static_cast<char>(answered);
  return id + std::to_string(line);
}

Discount discount_of(const CreateEvent& spec) {
  return {spec.discount_amount, spec.discount_percent, spec.discount_cap};
}

int64_t discount_off(const Discount& rule, int64_t gross) {
  int64_t off = rule.amount;
  if (rule.percent > 0) {
    off = gross * rule.percent / 100;  // gross <= items x qty x kMaxPrice: no overflow
    if (rule.cap > 0) off = std::min(off, rule.cap);
  }
  return std::clamp<int64_t>(off, 0, gross);
}

}  // namespace allot::topics
