#include "common/mysql.h"

#include <mysql.h>

#include <stdexcept>

namespace allot::mysql {

void CloseConnection::operator()(st_mysql* db) const { mysql_close(db); }

void FreeResult::operator()(st_mysql_res* result) const { mysql_free_result(result); }

Connection connect(const ConnectOptions& o) {
  Connection db(mysql_init(nullptr));
  if (!db) throw std::runtime_error("mysql_init: out of memory");
  auto connect_timeout = static_cast<unsigned>(o.connect_timeout_s);
  auto io_timeout = static_cast<unsigned>(o.io_timeout_s);
  unsigned protocol = MYSQL_PROTOCOL_TCP;
  mysql_optionsv(db.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (io_timeout > 0) {
    mysql_optionsv(db.get(), MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_optionsv(db.get(), MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  }
  mysql_optionsv(db.get(), MYSQL_OPT_PROTOCOL, &protocol);
  mysql_optionsv(db.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (!mysql_real_connect(db.get(), o.host.c_str(), o.user.c_str(), o.password.c_str(),
                          o.database.empty() ? nullptr : o.database.c_str(), static_cast<unsigned>(o.port), nullptr,
                          0)) {
    throw std::runtime_error("mysql " + o.host + ":" + std::to_string(o.port) + ": connect as " + o.user +
                             " to database " + (o.database.empty() ? "(none)" : o.database) + ": " +
                             mysql_error(db.get()) + " (" + std::to_string(mysql_errno(db.get())) + ")");
  }
  return db;
}

Result query(st_mysql* db, std::string_view sql) {
  auto fail = [&] {
    throw std::runtime_error("mysql: " + std::string(mysql_error(db)) + " (" + std::to_string(mysql_errno(db)) +
                             ") in: " + std::string(sql.substr(0, 80)));
  };
  if (mysql_real_query(db, sql.data(), sql.size()) != 0) fail();
  Result result(mysql_store_result(db));
  // A statement with columns but no result set means the rows could not be read.
  if (!result && mysql_field_count(db) != 0) fail();
  return result;
}

std::string quote(st_mysql* db, std::string_view text) {
  std::string out(text.size() * 2 + 3, '\0');
  out[0] = '\'';
  unsigned long n = mysql_real_escape_string(db, out.data() + 1, text.data(), text.size());
  out.resize(n + 1);
  out += '\'';
  return out;
}

}  // namespace allot::mysql
