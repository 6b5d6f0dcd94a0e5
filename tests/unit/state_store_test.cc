// The RocksDB store on a real temporary directory.
#include "state/store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace allot::state {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("allot-store-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StateStoreTest, CommitsRecordsWithOffsetsAndSurvivesReopen) {
  {
    auto s = StateStore::open(dir_);
    EXPECT_EQ(s->offsets(3).input_next, 0);
    s->commit(3, {{"e/a", "1"}, {"u/a/x", "2"}}, {10, 20});
    s->commit(4, {{"e/a", "other"}}, {1, 1});
  }
  auto s = StateStore::open(dir_);
  EXPECT_EQ(s->get(3, "e/a"), "1");
  EXPECT_EQ(s->get(4, "e/a"), "other");  // partitions are separate key spaces
  EXPECT_FALSE(s->get(5, "e/a"));
  EXPECT_EQ(s->offsets(3).input_next, 10);
  EXPECT_EQ(s->offsets(3).changelog_next, 20);
  EXPECT_EQ(s->count(3), 2);
}

// delete_event: a record without a value deletes its key; scan lists one prefix of one partition.
TEST_F(StateStoreTest, ARecordWithoutAValueDeletesItsKeyAndScanListsAPrefix) {
  auto s = StateStore::open(dir_);
  s->commit(3, {{"u/ev/a", "1"}, {"u/ev/b", "1"}, {"u/ev-2/a", "1"}, {"u/ew/a", "1"}}, {4, 4});
  s->commit(4, {{"u/ev/z", "1"}}, {1, 1});
  std::vector<std::string> keys;
  s->scan(3, "u/ev/", [&](std::string_view k, std::string_view v) {
    keys.emplace_back(k);
    EXPECT_EQ(v, "1");
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"u/ev/a", "u/ev/b"}));
  s->commit(3, {{"u/ev/a", std::nullopt}, {"u/ev/b", std::nullopt}}, {5, 5});
  EXPECT_FALSE(s->get(3, "u/ev/a"));
  keys.clear();
  s->scan(3, "u/ev/", [&](std::string_view k, std::string_view) { keys.emplace_back(k); });
  EXPECT_TRUE(keys.empty());
  EXPECT_EQ(s->get(3, "u/ev-2/a"), "1");
  EXPECT_EQ(s->get(4, "u/ev/z"), "1");
}

// A restore hands over a changelog's records in log order, one key possibly several times.
TEST_F(StateStoreTest, OfTwoRecordsWithOneKeyInABatchTheLaterWins) {
  auto s = StateStore::open(dir_);
  s->commit(1, {{"b", "1"}, {"a", "x"}, {"b", "2"}, {"c", "y"}, {"b", "3"}}, {1, 5});
  EXPECT_EQ(s->get(1, "b"), "3");
  EXPECT_EQ(s->get(1, "a"), "x");
  EXPECT_EQ(s->count(1), 3);
}

TEST_F(StateStoreTest, ClearEmptiesOnlyThatPartition) {
  auto s = StateStore::open(dir_);
  s->commit(0, {{"k", "v"}}, {5, 6});
  s->commit(1, {{"k", "v"}}, {7, 8});
  s->clear(0);
  EXPECT_FALSE(s->get(0, "k"));
  EXPECT_EQ(s->offsets(0).changelog_next, 0);
  EXPECT_EQ(s->get(1, "k"), "v");
  EXPECT_EQ(s->offsets(1).input_next, 7);
}

TEST_F(StateStoreTest, OpeningAnUnwritablePathFailsLoudly) {
  EXPECT_THROW(StateStore::open("/proc/allot-cannot-be-here"), StateError);
}

}  // namespace
}  // namespace allot::state
