# The sinks' tests (included from tests/CMakeLists.txt). They run against the real servers of
# `scripts/stack up`; a missing server fails them. SinksFault.* kills and restarts sink processes of its
# own (never the stack's), so it also carries the label `fault`.
add_executable(sinks_test ${CMAKE_CURRENT_LIST_DIR}/integration/sinks_test.cc)
target_link_libraries(sinks_test PRIVATE allot_sinks allot_test_support allot_topics_admin allot_projection_check allot_domain
                                         allot_mysql allot_redis PkgConfig::MARIADB
                                         PkgConfig::HIREDIS GTest::gtest_main)
# gtest_add_tests (scanned at configure time) names every test, so each can get its own labels.
gtest_add_tests(TARGET sinks_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/sinks_test.cc TEST_LIST sinks_tests)
set_tests_properties(${sinks_tests} PROPERTIES LABELS integration TIMEOUT 600)
set_tests_properties(SinksFault.KilledWithSigkillMidRunAndRestartedTheProjectionsAreExact
                     PROPERTIES LABELS "integration;fault" TIMEOUT 900)

# expected_projection over a mixed-mode history decided by the real core: pure, no servers.
add_executable(projection_check_test ${CMAKE_CURRENT_LIST_DIR}/unit/projection_check_test.cc)
target_include_directories(projection_check_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(projection_check_test PRIVATE allot_projection_check allot_domain GTest::gtest_main)
gtest_discover_tests(projection_check_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
