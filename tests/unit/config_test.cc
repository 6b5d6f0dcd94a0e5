// Reading ALLOT_* variables: a bad value names the variable and what it may be.
#include "common/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

namespace {

constexpr const char* kVar = "ALLOT_TEST_CONFIG_CHOICE";

TEST(EnvChoice, UnsetOrEmptyIsTheFallbackAndAChoiceIsTaken) {
  unsetenv(kVar);
  EXPECT_EQ(allot::env_choice(kVar, "none", {"none", "lz4"}), "none");
  setenv(kVar, "", 1);
  EXPECT_EQ(allot::env_choice(kVar, "none", {"none", "lz4"}), "none");
  setenv(kVar, "lz4", 1);
  EXPECT_EQ(allot::env_choice(kVar, "none", {"none", "lz4"}), "lz4");
  unsetenv(kVar);
}

TEST(EnvChoice, AnythingElseIsRefusedNamingTheVariableAndTheChoices) {
  setenv(kVar, "LZ4", 1);  // the choices are exact: librdkafka would refuse it later, less clearly
  try {
    (void)allot::env_choice(kVar, "none", {"none", "lz4", "zstd"});
    ADD_FAILURE() << "LZ4 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "ALLOT_TEST_CONFIG_CHOICE=LZ4 is not one of: none, lz4, zstd");
  }
  unsetenv(kVar);
}

}  // namespace
