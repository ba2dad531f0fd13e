# hbd's front door. `make run` starts a daemon and an agent for this
# machine; `make test` is what CI runs.

GO       ?= go
BIN      := bin
RUN_DIR  := $(CURDIR)/.run
# Fuzz budgets are counts of executions, not durations: with a duration,
# go1.26's fuzz coordinator can report its own -fuzztime deadline as a
# failure ("context deadline exceeded", no crasher written; golang/go#75804,
# fixed in go1.27). A count has no deadline to race.
FUZZTIME ?= 100000x
# CI_FUZZTIME is each target's share of the fuzzing step of CI (.ci/run
# runs `make fuzz FUZZTIME=$(CI_FUZZTIME)` after `make test`): with 28
# targets, building each one's instrumented test binary costs more than
# 10,000 executions do. `make fuzz` alone uses FUZZTIME.
CI_FUZZTIME ?= 10000x
GOLANGCI_LINT_VERSION := v2.15.0

# What -version prints (internal/version): set at link time, so a package
# or an image names its release even where the build has no VCS stamping.
# Outside a git checkout (a source tarball) pass VERSION=... COMMIT=...
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/hbd-project/hbd/internal/version
LDFLAGS    := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(BUILD_DATE)

.PHONY: all build run test test-short fuzz fuzz-ci check lint bench clean js-vendor js-vendor-check package package-test image

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# run builds, then starts hbd on its defaults (data under .run/) and a local
# hbd-agent reporting this machine over IPv4 and IPv6 with the same key.
# Ctrl-C stops both cleanly.
run: build
	@mkdir -p $(RUN_DIR)
	@printf 'servers = ["127.0.0.1:50003", "[::1]:50003"]\nkey_file = "%s/hbd.key"\ninterval = "10s"\n\n[plugins.cpu_monitor]\ninterval = "10s"\n[plugins.memory_monitor]\ninterval = "10s"\n[plugins.disk_monitor]\ninterval = "30s"\n[plugins.network_monitor]\ninterval = "10s"\n' $(RUN_DIR) > $(RUN_DIR)/hbd-agent.toml
	@set -e; \
	HBD_DATA_DIR=$(RUN_DIR) $(BIN)/hbd & hbd=$$!; \
	trap 'kill -TERM $$agent $$hbd 2>/dev/null; wait $$agent 2>/dev/null; wait $$hbd 2>/dev/null' INT TERM EXIT; \
	for i in $$(seq 50); do [ -s $(RUN_DIR)/hbd.key ] && break; sleep 0.1; done; \
	$(BIN)/hbd-agent -config $(RUN_DIR)/hbd-agent.toml & agent=$$!; \
	sleep 1; \
	echo; \
	echo "hbd is running (Ctrl-C stops it):"; \
	echo "  hosts:    curl localhost:50004/api/0/hosts"; \
	echo "  plugins:  curl localhost:50004/api/0/hosts/$$(hostname)/plugins/cpu_monitor?limit=5"; \
	echo "  messages: curl localhost:50004/api/0/messages"; \
	echo; \
	wait $$hbd

# test is the whole suite: unit, integration (real binaries on loopback),
# and every fuzz target's seed corpus (go test runs them as tests). It must
# stay under 10 minutes on 2 cores; the e2e package is its longest part
# (about 7.5 minutes with the race detector). Fuzzing proper is CI's next
# step (fuzz-ci), so that the suite keeps room under the cap.
test:
	$(GO) test -race -count=1 -timeout 9m30s ./...
	# The race detector allocates on its own: zero-allocation checks run without it.
	$(GO) test -count=1 -run 'TestZeroAllocs|TestEvaluateLiteralPathIsRuleMetric' ./transport/wire ./internal/alert ./internal/rejected

# fuzz-ci is CI's fuzzing: every target, CI_FUZZTIME executions each.
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=$(CI_FUZZTIME)

# test-short is the quick loop while editing: no race detector, no e2e
# (its TestMain skips under -short), no fuzzing.
test-short:
	$(GO) test -count=1 -short ./...

# fuzz runs every fuzz target in the tree (every func Fuzz... in a
# _test.go file), each for FUZZTIME; go test fuzzes one target at a time.
# A new target is picked up without editing this file.
FUZZ_TARGETS = $(shell grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -e 's|^\./||' -e 's|/[^/]*_test\.go:func |:|' | sort -u)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz ./$${t%%:*} $${t##*:} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) ./$${t%%:*}; \
	done

# lint: gofmt, go vet, golangci-lint (its linters and settings are in
# .golangci.yml; go run of a pinned version, so CI needs nothing but Go)
# a tidy go.mod, and vendored browser code equal to what web/ pins.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(MAKE) --no-print-directory js-vendor-check

check: lint test

# js-vendor copies the browser code the pages load from npm packages pinned
# by web/package.json and web/package-lock.json (npm ci checks each
# tarball against the lock's sha512) into assets/static/vendor, and writes
# web/VENDOR.sha256, which TestVendoredFiles compares with the committed
# copies. go:embed needs the copies in the tree: nothing runs npm at build
# or run time. Run it after changing a pinned version, and commit the result.
JS_VENDOR_DIR ?= assets/static/vendor
JS_VENDOR_SUMS ?= web/VENDOR.sha256
js-vendor:
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(JS_VENDOR_DIR)/uplot && mkdir -p $(JS_VENDOR_DIR)/uplot
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css \
		web/node_modules/uplot/LICENSE $(JS_VENDOR_DIR)/uplot/
	@mkdir -p $(dir $(JS_VENDOR_SUMS))
	@{ echo "# written by make js-vendor from web/package-lock.json; checked by TestVendoredFiles"; \
	   echo "# uplot $$(node -p 'require("./web/node_modules/uplot/package.json").version')"; \
	   cd $(JS_VENDOR_DIR) && sha256sum uplot/*; } > $(JS_VENDOR_SUMS)

# js-vendor-check redoes js-vendor from the registry into a scratch folder
# and fails if the committed copies or their sums differ from it by a byte:
# what is in assets/static/vendor is exactly what the lock pins.
js-vendor-check:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(MAKE) --no-print-directory js-vendor JS_VENDOR_DIR=$$tmp/vendor JS_VENDOR_SUMS=$$tmp/VENDOR.sha256 >/dev/null && \
	diff -r $$tmp/vendor $(JS_VENDOR_DIR) && diff $$tmp/VENDOR.sha256 $(JS_VENDOR_SUMS) && \
	echo "js-vendor-check: assets/static/vendor matches web/package-lock.json"

# bench runs the Go micro-benchmarks, then a short max scenario (a ramp of
# short steps) against a freshly started local daemon on ports 51003-51005.
# The full scenarios and their figures are in docs/BENCHMARKS.md.
BENCH_DIR := $(CURDIR)/.run/bench
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms ./transport/... ./actors/... ./bench
	@rm -rf $(BENCH_DIR); mkdir -p $(BENCH_DIR)
	@printf 'udp_host = "localhost"\nudp_port = 51003\nhbd_host = "127.0.0.1"\nhbd_port = 51004\nws_port = 51005\nlog_level = "warn"\ndata_dir = "%s"\n[limits]\nhosts_per_source = 0\n' $(BENCH_DIR) > $(BENCH_DIR)/hbd.toml
	@set -e; $(BIN)/hbd -config $(BENCH_DIR)/hbd.toml & hbd=$$!; \
	trap 'kill -TERM $$hbd 2>/dev/null; wait $$hbd 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 50); do [ -s $(BENCH_DIR)/hbd.key ] && break; sleep 0.1; done; \
	$(BIN)/hbd-bench ramp -scenario max -addr 127.0.0.1:51003 -http http://127.0.0.1:51004 \
		-key $(BENCH_DIR)/hbd.key -step-duration 3s -sink-duration 2s -duration 2m -quiet -json $(BENCH_DIR)/max.json

# package builds the .deb and .rpm packages of hbd and hbd-agent for each
# of PKG_ARCHES into dist/, with nfpm run as a pinned Go tool (nothing to
# install). Recipes, units and maintainer scripts: packaging/. The
# binaries are static (CGO_ENABLED=0), so one build runs on every distro.
NFPM_VERSION   := v2.48.0
NFPM           := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
DIST           := dist
PKG_ARCHES     ?= amd64 arm64
PKG_FORMATS    ?= deb rpm
PKG_MAINTAINER ?= hbd project <hbd-project@users.noreply.github.com>
# A package version must start with a digit: v1.2.3-4-gabc -> 1.2.3-4-gabc
# (nfpm makes the part after "-" a pre-release); an untagged tree is
# 0.0.0-git.<describe>, which sorts below any release.
PKG_VERSION    ?= $(shell v='$(VERSION)'; case $$v in (v[0-9]*) echo "$${v#v}";; (*) echo "0.0.0-git.$$(echo "$$v" | tr -c 'a-zA-Z0-9.\n' '.')";; esac)
package:
	@rm -rf $(DIST) && mkdir -p $(DIST)/build
	@# The examples as installed: state and key where the units and the
	@# maintainer scripts put them.
	sed -e 's|^data_dir = ""|data_dir = "/var/lib/hbd"|' -e 's|^key_file = ""|key_file = "/etc/hbd/hbd.key"|' config/example/hbd.toml > $(DIST)/build/hbd.toml
	sed -e 's|^key_file = ""|key_file = "/etc/hbd/hbd.key"|' config/example/hbd-agent.toml > $(DIST)/build/hbd-agent.toml
	@grep -q '^data_dir = "/var/lib/hbd"' $(DIST)/build/hbd.toml && grep -q '^key_file = "/etc/hbd/hbd.key"' $(DIST)/build/hbd.toml && \
		grep -q '^key_file = "/etc/hbd/hbd.key"' $(DIST)/build/hbd-agent.toml || { echo "package: the examples' data_dir/key_file lines changed; fix the sed above"; exit 1; }
	@set -e; for arch in $(PKG_ARCHES); do \
		echo "build linux/$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/build/linux_$$arch/ ./cmd/hbd ./cmd/hbd-agent; \
		if [ "$$arch" = "$$($(GO) env GOHOSTARCH)" ]; then \
			$(DIST)/build/linux_$$arch/hbd -check-config -config $(DIST)/build/hbd.toml; \
			$(DIST)/build/linux_$$arch/hbd-agent -check-config -config $(DIST)/build/hbd-agent.toml; \
		fi; \
		for pkg in hbd hbd-agent; do for fmt in $(PKG_FORMATS); do \
			ARCH=$$arch PKG_VERSION='$(PKG_VERSION)' PKG_MAINTAINER='$(PKG_MAINTAINER)' \
				$(NFPM) package --config packaging/nfpm/$$pkg.yaml --packager $$fmt --target $(DIST)/; \
		done; done; \
	done
	@ls -l $(DIST)/*.deb $(DIST)/*.rpm 2>/dev/null || true

# package-test builds the amd64 .deb, installs it on this machine (root),
# checks what it installed, and purges it again: packaging/test-deb.sh.
package-test:
	$(MAKE) --no-print-directory package PKG_ARCHES=amd64 PKG_FORMATS=deb
	packaging/test-deb.sh $(DIST)

# image builds the daemon's container image (Dockerfile) as hbd:$(VERSION).
IMAGE ?= hbd
image:
	docker build --build-arg VERSION='$(VERSION)' --build-arg COMMIT='$(COMMIT)' --build-arg BUILD_DATE='$(BUILD_DATE)' \
		-t $(IMAGE):$(VERSION) .

clean:
	rm -rf $(BIN) $(RUN_DIR) $(DIST)
