# archy-quadlet. `make test` is the test command CI runs (.ci/run).
LAB := ../shared/lab
NODE_BIN := ./node_modules/.bin

.PHONY: all build test test-unit gate gate-release lint format bench demo lab lab-install docs clean

all: build

node_modules: package-lock.json
	npm ci
	@touch node_modules

build: node_modules
	$(NODE_BIN)/tsc -p tsconfig.build.json && node scripts/build-validator.mjs && node scripts/bundle.mjs

# The lab (real systemd user manager, Podman, Quadlet) can only be brought up as root.
# scripts/lab-up also recovers a machine restarted without a boot (see the script).
lab:
	@if [ -x $(LAB)/up ] && [ "$$(id -u)" = 0 ]; then scripts/lab-up $(LAB)/up; \
	else echo "lab: not brought up here (needs root and $(LAB)); lab tests will say why they skip"; fi

# The lab user runs what a node runs: the packed package, installed globally.
lab-install: build
	@if [ "$$(id -u)" = 0 ] && [ -x $(LAB)/up ]; then \
	  mkdir -p out && rm -f out/archy-quadlet-*.tgz && npm pack --silent --pack-destination out >/dev/null && \
	  npm install -g --no-audit --no-fund --silent ./out/archy-quadlet-*.tgz && echo "lab: installed $$(archy-quadlet --version) globally"; \
	else echo "lab-install: skipped (needs root and $(LAB))"; fi

# The pure tests alone (vitest's unit project: no lab, files in parallel). Needs the build:
# some tests run dist/cli/bin.js or compare dist's precompiled validator with the runtime one.
test-unit: build
	$(NODE_BIN)/vitest run --project unit

# Every test, the gate included (ARCHY_ITERATIONS times; 1 unless set).
test: build lab lab-install
	@mkdir -p out && rm -rf out/gate
	@node scripts/gate-meta.mjs > out/gate-meta.json
	$(NODE_BIN)/vitest run --reporter=default --reporter=json --outputFile.json=out/vitest.json; \
	status=$$?; node scripts/test-summary.mjs out/vitest.json && $(GATE_REPORT) && exit $$status

# The production gate alone: the lifecycle matrix and the chaos scenarios, in the lab.
# TAP in out/gate/gate.tap, the matrix in out/gate/matrix.md.
ARCHY_ITERATIONS ?= 3
# The run's facts (commit, versions) are taken before it starts: the tree may change while it runs.
GATE_REPORT = ARCHY_GATE_META="$$(cat out/gate-meta.json)" node scripts/gate-report.mjs out/gate/results.jsonl out/gate/matrix.md
gate: build lab lab-install
	@mkdir -p out && rm -rf out/gate
	@node scripts/gate-meta.mjs > out/gate-meta.json
	ARCHY_ITERATIONS=$(ARCHY_ITERATIONS) $(NODE_BIN)/vitest run test/lifecycle test/chaos test/adopt --reporter=default --reporter=json --outputFile.json=out/gate/vitest.json; \
	status=$$?; node scripts/vitest-tap.mjs out/gate/vitest.json out/gate/gate.tap && $(GATE_REPORT) && exit $$status

# A release: 20 iterations; the matrix is checked in (docs/gate-matrix.md).
gate-release:
	$(MAKE) gate ARCHY_ITERATIONS=20 && cp out/gate/matrix.md docs/gate-matrix.md && cp out/gate/gate.tap docs/gate.tap

# Types (tests included), then Biome: the formatter's verdict (no line over 120 characters)
# and its linter. CI runs it before the tests. `make format` rewrites what it can.
lint: node_modules
	$(NODE_BIN)/tsc --noEmit -p .
	$(NODE_BIN)/biome check .

format: node_modules
	$(NODE_BIN)/biome check --write .

bench: build lab lab-install
	node bench/run.mjs

demo: build
	@out=$$(mktemp -d); node dist/cli/bin.js render --out "$$out" && \
	echo "--- what the Quadlet generator makes of them:" && \
	if [ -x /usr/libexec/podman/quadlet ]; then QUADLET_UNIT_DIRS="$$out" /usr/libexec/podman/quadlet -dryrun -user 2>/dev/null | grep -E '^(---|ExecStart=)'; \
	else echo "(Podman's Quadlet generator is not installed here)"; fi; rm -rf "$$out"

docs: build
	node scripts/update-readme.mjs

clean:
	rm -rf dist out
