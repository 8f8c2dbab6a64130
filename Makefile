# remo-broker: `make run` and `make test` do everything from a fresh machine with Swift installed.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

SWIFT ?= swift
DIST := dist
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -static-executable
# The shipped binary is Embedded Swift (DESIGN.md §2): the toolchain's embedded stdlib for this
# target, chosen through REMO_EMBEDDED (read by Package.swift), in a build dir of its own.
EMBEDDED_LIBS ?= $(realpath $(dir $(realpath $(shell command -v $(SWIFT))))../lib/swift/embedded/x86_64-unknown-linux-gnu)
EMBEDDED_FLAGS := --scratch-path .build-embedded -c release
DEB_PACKAGES := libseccomp-dev libcap-dev
# Release gates only: lintian for the .deb, strace for the unit's syscall check, groff/man for the man page.
# systemd: systemd-analyze for the unit's gates, and the systemd `make systemd-test` boots.
PACKAGING_PACKAGES := lintian strace man-db groff-base systemd
CI_FUZZ_SECONDS ?= 20

.PHONY: deps build release release-full test test-embedded parity ci run clean deps-packaging deb fuzz leak-check nfr bench-tools baseline systemd-test

# Install the C libraries only when dpkg says they are missing.
deps deps-packaging:
	@missing=""; for p in $(if $(filter deps-packaging,$@),$(PACKAGING_PACKAGES),$(DEB_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build

# The shipped binary: Embedded Swift, fully static (glibc, libseccomp, libcap), stripped, in dist/.
release: deps
	@[ -f "$(EMBEDDED_LIBS)/libswiftUnicodeDataTables.a" ] || { echo "no Embedded Swift stdlib for x86_64-unknown-linux-gnu under '$(EMBEDDED_LIBS)' (set EMBEDDED_LIBS)" >&2; exit 1; }
	REMO_EMBEDDED=$(EMBEDDED_LIBS) $(SWIFT) build $(EMBEDDED_FLAGS) --product remo-broker
	mkdir -p $(DIST)
	cp "$$(REMO_EMBEDDED=$(EMBEDDED_LIBS) $(SWIFT) build $(EMBEDDED_FLAGS) --show-bin-path)/remo-broker" $(DIST)/remo-broker
	strip $(DIST)/remo-broker

# The same product on the full Swift runtime (static), only to measure against: dist/full/.
release-full: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product remo-broker
	mkdir -p $(DIST)/full
	cp "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/remo-broker" $(DIST)/full/remo-broker
	strip $(DIST)/full/remo-broker

# Output is kept in .build/test-logs and the tests' temp dirs under .build/test-keep for the leak gate.
test: deps deps-packaging
	$(SWIFT) build --build-tests
	mkdir -p .build/test-logs && rm -rf .build/test-keep
	REMO_TEST_KEEP_DIR=$(CURDIR)/.build/test-keep $(SWIFT) test --skip-build 2>&1 | tee .build/test-logs/swift-test.log

# The integration suite again, against the shipped Embedded binary (after `make test`); then the
# hardening tests against an Embedded build with `serve --debug-attempt` compiled in, so the
# forbidden-syscall tests run in Embedded mode too (the shipped binary refuses that option).
test-embedded: release
	mkdir -p .build/test-logs && rm -rf .build/test-keep/embedded .build/test-keep/embedded-probe
	REMO_BROKER_BINARY=$(CURDIR)/$(DIST)/remo-broker REMO_TEST_KEEP_DIR=$(CURDIR)/.build/test-keep/embedded \
		$(SWIFT) test --skip-build --filter IntegrationTests 2>&1 | tee .build/test-logs/swift-test-embedded.log
	REMO_EMBEDDED=$(EMBEDDED_LIBS) REMO_DEBUG_ATTEMPT=1 $(SWIFT) build --scratch-path .build-embedded-probe -c release --product remo-broker
	REMO_BROKER_BINARY=$(CURDIR)/.build-embedded-probe/release/remo-broker REMO_TEST_KEEP_DIR=$(CURDIR)/.build/test-keep/embedded-probe \
		$(SWIFT) test --skip-build --filter IntegrationTests.HardeningTests 2>&1 | tee .build/test-logs/swift-test-embedded-probe.log
	@! grep -q ' skipped: "needs a debug build' .build/test-logs/swift-test-embedded-probe.log || { echo "forbidden-syscall tests skipped on the probe build" >&2; exit 1; }

# Byte-for-byte: the Embedded binary says what the full-Swift debug build says.
parity: release
	bash ci/check-parity.sh "$$($(SWIFT) build --show-bin-path)/remo-broker" $(DIST)/remo-broker

# CI: every test (also against the Embedded binary), the static release build, and the cheap
# gates on it. The summary at the end says whether the real-systemd test ran (PASS) or could
# not run here (SKIPPED: why).
ci: test release test-embedded parity
	@bash ci/check-static-binary.sh $(DIST)/remo-broker
	@$(MAKE) --no-print-directory systemd-test leak-check
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory bench-tools baseline
	@bash ci/measure-nfr.sh --quick --no-build
	@echo "ci summary:"
	@echo "  systemd-test: $$(cat .build/systemd-test.result 2>/dev/null || echo 'did not run')"

# SPEC §9 gates (ci/measure-nfr.sh): NFR_FLAGS=--release for soak 1 h / killtest 100,
# NFR_FLAGS=--write-docs to refresh docs/BENCHMARKS.md.
nfr: release bench-tools baseline
	@bash ci/measure-nfr.sh --no-build $(NFR_FLAGS)

# The harnesses, optimised; same flags as `release` so the two share one build.
bench-tools: deps
	for tool in LatencyBench Soak KillTest; do $(SWIFT) build $(RELEASE_FLAGS) --product $$tool; done

# The C epoll echo server LatencyBench measures beside the broker.
baseline:
	mkdir -p .build
	cc -O2 -Wall -Wextra -o .build/echo-baseline ci/baseline/echo.c

run: build
	@bash ci/run-demo.sh "$$($(SWIFT) build --show-bin-path)/remo-broker"

# Debian package from the static release binary, checked by lintian and a dpkg -x install.
deb: release deps-packaging
	bash packaging/deb/build-deb.sh $(DIST)/remo-broker $(DIST)
	bash ci/check-deb.sh $(DIST)/remo-broker_*_amd64.deb

# The .deb under a real systemd booted in a PID + mount namespace (ci/systemd-test.sh, DESIGN.md
# §7): needs root; elsewhere it prints SKIPPED: <reason>, which `make ci` repeats in its summary.
systemd-test: deb
	bash ci/systemd-test.sh

# libFuzzer targets (fuzz/): FUZZ_SECONDS per target, corpus in fuzz/corpus/<target>.
fuzz: deps
	bash ci/fuzz.sh $(or $(FUZZ_SECONDS),60)

# No test secret marker in logs, audit logs, state dirs or the build tree; no committed key.
leak-check:
	bash ci/check-leaks.sh

clean:
	rm -rf .build .build-fuzz .build-embedded .build-embedded-probe $(DIST)
