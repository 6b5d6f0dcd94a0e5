#pragma once
// Splits a checked-in SQL script into statements: each ends with a semicolon at the end of a line,
// and "--" starts a comment. Enough for our schema files; not a SQL parser.
#include <string>
#include <string_view>
#include <vector>

namespace allot {

std::vector<std::string> split_sql_script(std::string_view text);

}  // namespace allot
