# scalegate container image: `docker build -t scalegate .` at the repository root.
# Two stages: a Debian 12 builder with the build dependencies (from scripts/install-deps.sh
# --build-only, so the list lives in one place), and a runtime stage with only the shared
# libraries the binary links (tests/integration/test_packaging.py checks the list against ldd).

FROM debian:12 AS build
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN bash /src/scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
# Debug information is dropped from the copy that ships (symbols stay, for backtraces).
RUN rm -rf build \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && ninja -C build scalegate \
 && objcopy --strip-debug build/src/app/scalegate /scalegate

FROM debian:12
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libboost-json1.81.0 libbrotli1 libc6 libfmt9 libgcc-s1 libhiredis0.14 libnghttp2-14 \
      libpg-query1504.0 \
      libspdlog1.10 libsqlite3-0 libssl3 libstdc++6 libyaml-cpp0.7 zlib1g \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so volume permissions can be set from outside the image.
RUN groupadd --system --gid 10001 scalegate \
 && useradd --system --uid 10001 --gid scalegate --home-dir /var/lib/scalegate \
      --shell /usr/sbin/nologin scalegate \
 && install -d -o scalegate -g scalegate /var/lib/scalegate /var/log/scalegate \
 && install -d /etc/scalegate
COPY --from=build /scalegate /usr/local/bin/scalegate
COPY deploy/docker/scalegate.yaml /etc/scalegate/scalegate.yaml
USER scalegate
# Async routes' sqlite queues default to "<name>.queue.db" in the working directory.
WORKDIR /var/lib/scalegate
EXPOSE 8080
# The admin listener's /health, on the container's loopback (no curl in the image: bash's
# /dev/tcp). Fails unless the status line says 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 2 status <&3 && [[ $status == 'HTTP/1.1 200 '* ]]"]
# SIGTERM (docker stop) drains; give `docker stop -t` more than shutdown_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["scalegate"]
CMD ["run", "--config", "/etc/scalegate/scalegate.yaml", "--log-format", "json"]
