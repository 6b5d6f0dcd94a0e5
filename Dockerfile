# allot's services in one image, for compose/docker-compose.yml:
#   allot-ingress, allot-processor, allot-sink-mysql, allot-sink-redis, allotctl
# Two stages on the same Debian release as the machines that run scripts/setup (12, bookworm):
#   build    the Debian packages of scripts/setup that the build needs, then cmake + ninja;
#   runtime  only the shared libraries the binaries link to, the binaries, the web page and topics.json.
# The package lists below are checked against scripts/setup's APT_PACKAGES by
# tests/ops/compose_check.py (ctest -R Ops.Compose): keep them in step with it.
#
#   docker build -t allot:local .          (docker-compose does this: compose/docker-compose.yml)

FROM debian:12.7-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
# scripts/setup's APT_PACKAGES minus what only runs beside the build (servers, benchmark and browser
# tools, operator tools): see EXCLUDED_FROM_BUILD in tests/ops/compose_check.py for each reason.
# GoogleTest and Google Benchmark stay: the top-level CMakeLists.txt requires them at configure time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev librocksdb-dev nlohmann-json3-dev libpistache-dev libmariadb-dev libhiredis-dev libssl-dev libjwt-dev \
      libjemalloc-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The project's default build type (RelWithDebInfo, what the tests run; GCC 12's -O3 of a Release build
# warns falsely with -Wrestrict), without the debug sections in the image.
RUN cmake -S . -B build -G Ninja \
 && cmake --build build --target allot-ingress allot-processor allot-sink-mysql allot-sink-redis allotctl \
 && strip --strip-debug build/ingress/allot-ingress build/processors/allot-processor \
      build/sinks/allot-sink-mysql build/sinks/allot-sink-redis build/topics/allotctl

FROM debian:12.7-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# The runtime packages of the -dev libraries above that the binaries link to (readelf NEEDED), plus
# curl for the compose healthchecks. Header-only and test-only packages have no runtime part.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 librdkafka++1 librocksdb7.8 libpistache0 libmariadb3 libhiredis0.14 libssl3 libjwt0 libjemalloc2 \
      curl \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/allot --shell /usr/sbin/nologin allot
COPY --from=build /src/build/ingress/allot-ingress /usr/local/bin/
COPY --from=build /src/build/processors/allot-processor /usr/local/bin/
COPY --from=build /src/build/sinks/allot-sink-mysql /usr/local/bin/
COPY --from=build /src/build/sinks/allot-sink-redis /usr/local/bin/
COPY --from=build /src/build/topics/allotctl /usr/local/bin/
COPY compose/allot-entrypoint.sh /usr/local/bin/allot-entrypoint
COPY ingress/web /app/web
COPY topics/topics.json /app/topics/topics.json
RUN chmod 0755 /usr/local/bin/allot-entrypoint
# Inside a container every service listens on all interfaces (the local stack uses 127.0.0.1).
ENV ALLOT_HTTP_HOST=0.0.0.0 \
    ALLOT_METRICS_HOST=0.0.0.0 \
    ALLOT_STATIC_DIR=/app/web
USER allot
WORKDIR /var/lib/allot
ENTRYPOINT ["allot-entrypoint"]
CMD ["allot-ingress"]
