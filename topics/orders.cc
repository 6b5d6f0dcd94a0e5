#include "topics/orders.h"

#include <algorithm>
#include <cstdio>

#include "topics/slices.h"

namespace allot::topics {

std::string order_request_id(std::string_view user_id, std::string_view order_id, OrderStepKind step, int32_t line,
                             OrderStepKind answered) {
  char hex[17];
  const auto key = std::string(user_id) + "|" + std::string(order_id);
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(key)));
  std::string id = "os-" + std::string(hex) + "-" + static_cast<char>(step);
  if (step == OrderStepKind::kAnswer) id += static_cast<char>(answered);
  return id + std::to_string(line);
}

std::vector<int64_t> line_payments(const std::vector<int64_t>& line_amounts, int64_t discount) {
  std::vector<int64_t> paid;
  for (int64_t amount : line_amounts) {
    const int64_t off = std::min(amount, discount);
    discount -= off;
    paid.push_back(amount - off);
  }
  return paid;
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
