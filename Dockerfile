# syntax=docker/dockerfile:1
# The hbd daemon as a container image: a static binary on distroless,
# running as an unprivileged user, with its data (state, journal, the fleet
# key made on first start) in a volume. docs/INSTALL.md shows how to run it.
#
#   make image            (passes the version, commit and date below)
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t hbd .

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=unknown
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X github.com/hbd-project/hbd/internal/version.version=${VERSION} -X github.com/hbd-project/hbd/internal/version.commit=${COMMIT} -X github.com/hbd-project/hbd/internal/version.date=${BUILD_DATE}" \
		-o /out/ ./cmd/hbd ./cmd/hbd-agent
# The example config with data_dir on the volume (the key, created on first
# start, lands there too), checked by the binary it ships with.
RUN mkdir -p /out/etc /out/data \
	&& sed -e 's|^data_dir = ""|data_dir = "/var/lib/hbd"|' config/example/hbd.toml > /out/etc/hbd.toml \
	&& grep -q '^data_dir = "/var/lib/hbd"' /out/etc/hbd.toml \
	&& /out/hbd -check-config -config /out/etc/hbd.toml

# distroless/static: no shell, no package manager; CA certificates (for
# HTTPS webhooks and SMTP with TLS) and tzdata are in it. nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hbd /out/hbd-agent /usr/bin/
COPY --from=build /out/etc/hbd.toml /etc/hbd/hbd.toml
COPY --from=build --chown=65532:65532 /out/data /var/lib/hbd
USER 65532:65532
VOLUME ["/var/lib/hbd"]
# udp_port (agents), hbd_port (API, pages, /metrics), ws_port (stream).
EXPOSE 50003/udp 50004/tcp 50005/tcp
ENTRYPOINT ["/usr/bin/hbd"]
CMD ["-config", "/etc/hbd/hbd.toml"]
