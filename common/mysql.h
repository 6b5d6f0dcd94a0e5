#pragma once
// The MariaDB C connector's handles, owned, and the one way every binary and test connects: over TCP
// (also for "localhost": the stack listens on TCP), utf8mb4, bounded timeouts. A MYSQL* is not
// thread-safe: one Connection per thread. Only forward declarations here, so that a header holding a
// Connection does not pull <mysql.h> in.
#include <memory>
#include <string>
#include <string_view>

struct st_mysql;      // MYSQL
struct st_mysql_res;  // MYSQL_RES

namespace allot::mysql {

struct CloseConnection {
  void operator()(st_mysql* db) const;
};
using Connection = std::unique_ptr<st_mysql, CloseConnection>;

struct FreeResult {
  void operator()(st_mysql_res* result) const;
};
using Result = std::unique_ptr<st_mysql_res, FreeResult>;

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 13306;
  std::string user = "root";
  std::string password;  // secret: never in a message
  std::string database;  // "" connects to no database
  int connect_timeout_s = 5;
  int io_timeout_s = 0;  // read and write timeout of one statement; 0 keeps the connector's default
};

// An open connection; throws std::runtime_error
// ("mysql <host>:<port>: connect as <user> to database <db>: <server's message> (<errno>)").
[[nodiscard]] Connection connect(const ConnectOptions& options);

// Runs `sql` and returns its rows; null for a statement that returns none. Throws std::runtime_error
// with the server's message and the statement's start. The connection stays usable after a failure
// unless the server went away.
[[nodiscard]] Result query(st_mysql* db, std::string_view sql);

// `text` escaped for the connection's character set and put in single quotes.
[[nodiscard]] std::string quote(st_mysql* db, std::string_view text);

}  // namespace allot::mysql
