# Operations tests (tests/ops): plain commands, no C++; included from tests/CMakeLists.txt.
# Python standard library only (compose_check.py also needs PyYAML, which Debian's docker-compose
# brings along; it re-runs itself under docker-compose's interpreter when this one lacks it).
#   Ops.MetricsExposition  live /metrics of every running allot service: promtool check metrics + own parser
#   Ops.Dashboards         a short load, then every Grafana panel's PromQL through the real Prometheus
#   Ops.ConsumerLagDrains  after a fully decided load, the lag the dashboards show drains (processors <= 1: a tick in flight; sinks <= 1: the commit marker)
#   Ops.Compose            docker-compose config, referenced files, commands, pinned images, packages
# The first three need the stack (scripts/stack up); Ops.Compose needs docker-compose and a build.
find_program(ALLOT_PYTHON3 NAMES python3 REQUIRED)

add_test(NAME Ops.MetricsExposition
         COMMAND ${ALLOT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/metrics_check.py --build-dir ${PROJECT_BINARY_DIR})
set_tests_properties(Ops.MetricsExposition PROPERTIES LABELS integration TIMEOUT 120)

add_test(NAME Ops.Dashboards
         COMMAND ${ALLOT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/dashboards_check.py --build-dir ${PROJECT_BINARY_DIR})
set_tests_properties(Ops.Dashboards PROPERTIES LABELS integration TIMEOUT 420)

add_test(NAME Ops.ConsumerLagDrains
         COMMAND ${ALLOT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/lag_check.py --build-dir ${PROJECT_BINARY_DIR})
set_tests_properties(Ops.ConsumerLagDrains PROPERTIES LABELS integration TIMEOUT 300)

add_test(NAME Ops.Compose
         COMMAND ${ALLOT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/compose_check.py --build-dir ${PROJECT_BINARY_DIR})
set_tests_properties(Ops.Compose PROPERTIES LABELS integration TIMEOUT 180)

add_test(NAME Ops.ApiContract COMMAND ${CMAKE_CURRENT_LIST_DIR}/api_contract_check.sh)
set_tests_properties(Ops.ApiContract PROPERTIES LABELS integration TIMEOUT 600)
