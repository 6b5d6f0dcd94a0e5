#include "common/sql_script.h"

namespace allot {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::vector<std::string> split_sql_script(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (auto c = line.find("--"); c != std::string_view::npos) line = line.substr(0, c);
    line = trim(line);
    if (line.empty()) continue;
    bool ends = line.back() == ';';
    if (ends) line.remove_suffix(1);
    if (!current.empty()) current += '\n';
    current += line;
    if (ends) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!trim(current).empty()) out.push_back(current);
  return out;
}

}  // namespace allot
