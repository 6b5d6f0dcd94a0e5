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
