// Integration test against the real MariaDB of the local stack (scripts/stack up): the C
// connector connects over TCP, a transaction commits rows, a prepared statement reads them back
// and a rolled-back insert leaves nothing behind. A server that cannot be reached fails the test.
//
// Server: ALLOT_MYSQL_HOST (127.0.0.1), ALLOT_MYSQL_PORT (13306), ALLOT_MYSQL_USER (root),
// ALLOT_MYSQL_PASSWORD (empty), ALLOT_MYSQL_DATABASE (allot).
#include <mysql.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "common/mysql.h"

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

struct MysqlStmtClose {
  void operator()(MYSQL_STMT* s) const { mysql_stmt_close(s); }
};
using allot::mysql::Connection;
using allot::mysql::Result;
using Statement = std::unique_ptr<MYSQL_STMT, MysqlStmtClose>;

::testing::AssertionResult query(MYSQL* db, const std::string& sql) {
  if (mysql_real_query(db, sql.data(), sql.size()) != 0) {
    return ::testing::AssertionFailure() << sql << "\n  -> " << mysql_error(db);
  }
  return ::testing::AssertionSuccess();
}

class MariaDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // TCP and utf8mb4, as the services connect (common/mysql.h).
    try {
      db_ = allot::mysql::connect({.host = env_or("ALLOT_MYSQL_HOST", "127.0.0.1"),
                                   .port = std::stoi(env_or("ALLOT_MYSQL_PORT", "13306")),
                                   .user = env_or("ALLOT_MYSQL_USER", "root"),
                                   .password = env_or("ALLOT_MYSQL_PASSWORD", ""),
                                   .database = env_or("ALLOT_MYSQL_DATABASE", "allot")});
    } catch (const std::exception& e) {
      FAIL() << e.what() << " (is `scripts/stack up` running?)";
    }

    auto now = std::chrono::system_clock::now().time_since_epoch();
    table_ = "it_rows_" + std::to_string(::getpid()) + "_" +
             std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
    // No explicit charset: the table takes the database's default, which must be utf8mb4
    // (user names are not all ASCII).
    ASSERT_TRUE(query(db_.get(), "CREATE TABLE " + table_ +
                                     " (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL,"
                                     " stock INT NOT NULL) ENGINE=InnoDB"));
    created_ = true;
  }

  void TearDown() override {
    if (created_) {
      EXPECT_TRUE(query(db_.get(), "DROP TABLE IF EXISTS " + table_));
    }
  }

  // All rows with id >= min_id, by a prepared statement with a bound parameter.
  std::vector<std::tuple<long long, std::string, int>> select_from(long long min_id) {
    std::vector<std::tuple<long long, std::string, int>> rows;
    Statement stmt(mysql_stmt_init(db_.get()));
    EXPECT_TRUE(stmt);
    if (!stmt) return rows;
    const std::string sql = "SELECT id, name, stock FROM " + table_ + " WHERE id >= ? ORDER BY id";
    if (mysql_stmt_prepare(stmt.get(), sql.data(), sql.size()) != 0) {
      ADD_FAILURE() << "prepare: " << mysql_stmt_error(stmt.get());
      return rows;
    }
    MYSQL_BIND param{};
    param.buffer_type = MYSQL_TYPE_LONGLONG;
    param.buffer = &min_id;
    EXPECT_EQ(mysql_stmt_bind_param(stmt.get(), &param), 0) << mysql_stmt_error(stmt.get());
    if (mysql_stmt_execute(stmt.get()) != 0) {
      ADD_FAILURE() << "execute: " << mysql_stmt_error(stmt.get());
      return rows;
    }

    long long id = 0;
    char name[65] = {};
    unsigned long name_len = 0;
    int stock = 0;
    MYSQL_BIND out[3]{};
    out[0].buffer_type = MYSQL_TYPE_LONGLONG;
    out[0].buffer = &id;
    out[1].buffer_type = MYSQL_TYPE_STRING;
    out[1].buffer = name;
    out[1].buffer_length = sizeof name - 1;
    out[1].length = &name_len;
    out[2].buffer_type = MYSQL_TYPE_LONG;
    out[2].buffer = &stock;
    EXPECT_EQ(mysql_stmt_bind_result(stmt.get(), out), 0) << mysql_stmt_error(stmt.get());
    int rc;
    while ((rc = mysql_stmt_fetch(stmt.get())) == 0) {
      rows.emplace_back(id, std::string(name, name_len), stock);
    }
    EXPECT_EQ(rc, MYSQL_NO_DATA) << "fetch: " << mysql_stmt_error(stmt.get());
    return rows;
  }

  Connection db_;
  std::string table_;
  bool created_ = false;
};

TEST_F(MariaDbTest, CommittedRowsReadBackAndRolledBackRowsVanish) {
  ASSERT_EQ(mysql_autocommit(db_.get(), 0), 0) << mysql_error(db_.get());
  ASSERT_TRUE(query(db_.get(), "START TRANSACTION"));
  ASSERT_TRUE(query(db_.get(), "INSERT INTO " + table_ +
                                   " (id, name, stock) VALUES (1, 'alpha', 100), (2, 'beta', 0),"
                                   " (3, 'gamma ✓', 7)"));
  ASSERT_EQ(mysql_commit(db_.get()), 0) << mysql_error(db_.get());

  ASSERT_TRUE(query(db_.get(), "START TRANSACTION"));
  ASSERT_TRUE(query(db_.get(), "INSERT INTO " + table_ + " (id, name, stock) VALUES (4, 'rolled back', 1)"));
  ASSERT_TRUE(query(db_.get(), "UPDATE " + table_ + " SET stock = stock - 1 WHERE id = 1"));
  ASSERT_EQ(mysql_rollback(db_.get()), 0) << mysql_error(db_.get());

  using Row = std::tuple<long long, std::string, int>;
  EXPECT_EQ(select_from(1), (std::vector<Row>{{1, "alpha", 100}, {2, "beta", 0}, {3, "gamma ✓", 7}}));
  EXPECT_EQ(select_from(3), (std::vector<Row>{{3, "gamma ✓", 7}}));

  // A plain query agrees with the prepared statement.
  ASSERT_TRUE(query(db_.get(), "SELECT COUNT(*), SUM(stock) FROM " + table_));
  Result res(mysql_store_result(db_.get()));
  ASSERT_TRUE(res) << mysql_error(db_.get());
  MYSQL_ROW row = mysql_fetch_row(res.get());
  ASSERT_NE(row, nullptr);
  EXPECT_STREQ(row[0], "3");
  EXPECT_STREQ(row[1], "107");
  ASSERT_EQ(mysql_commit(db_.get()), 0) << mysql_error(db_.get());
}

}  // namespace
