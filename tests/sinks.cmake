# The sinks' tests (included from tests/CMakeLists.txt). They run against the real servers of
# `scripts/stack up`; a missing server fails them. SinksFault.* kills and restarts sink processes of its
# own (never the stack's), so it also carries the label `fault`.
add_executable(sinks_test ${CMAKE_CURRENT_LIST_DIR}/integration/sinks_test.cc)
target_link_libraries(sinks_test PRIVATE allot_sinks allot_test_support allot_topics_admin allot_mysql allot_redis PkgConfig::MARIADB
                                         PkgConfig::HIREDIS GTest::gtest_main)
# gtest_add_tests (scanned at configure time) names every test, so each can get its own labels.
gtest_add_tests(TARGET sinks_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/sinks_test.cc TEST_LIST sinks_tests)
set_tests_properties(${sinks_tests} PROPERTIES LABELS integration TIMEOUT 600)
set_tests_properties(SinksFault.KilledWithSigkillMidRunAndRestartedTheProjectionsAreExact
                     PROPERTIES LABELS "integration;fault" TIMEOUT 900)
