# lastgood build. `make` builds ./lastgood; `make check` builds with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs every test, with a
# short fuzzing pass and the fault injection tests; `make demo` runs the
# demo; `make fuzz` fuzzes for longer; `make faults` runs the fault
# injection tests alone (FULL=1: every write and open too); `make
# check-valgrind` runs the CLI tests under valgrind. All of them install
# missing Debian packages first.

CC      ?= cc
CLANG   ?= clang
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
PKGS    := yaml-0.1 libcurl sqlite3 libpq libcrypto jansson libarchive
# libcurl and libarchive are not linked: health checks load libcurl when
# they first run, and a deploy libarchive when it unpacks a tarball
# (util/dynlib.h), so that other commands do not pay for the libraries they
# bring. Their headers are still used.
LINKED_PKGS := $(filter-out libcurl libarchive,$(PKGS))

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(LINKED_PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -pthread $(WARN) -Isrc $(PKG_CFLAGS) $(CFLAGS)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRC      := $(sort $(wildcard src/util/*.c src/core/*.c src/core/*/*.c src/cmd/*.c))
HDR      := $(wildcard src/*/*.h src/*/*/*.h)
MAIN     := src/main.c
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ      := $(SRC:%.c=build/release/%.o) build/release/src/main.o
SAN_OBJ  := $(SRC:%.c=build/san/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/san/tests/%)

# Fuzzing (tests/fuzz): seconds per target for `make fuzz`, and for the
# short pass `make check` runs.
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 20
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_OBJ := $(SRC:%.c=build/fuzz/%.o)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

# valgrind: a debug build without sanitizers, and the CLI tests it runs.
# The crash tests are left out: they kill lastgood under strace at its Nth
# system call, and valgrind's own calls would be counted.
VALGRIND_OBJ := $(SRC:%.c=build/valgrind/%.o) build/valgrind/src/main.o
VALGRIND_CLI := $(filter-out %/30-recover-crash.bats,$(sort $(wildcard tests/cli/*.bats)))
VALGRIND     := valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--track-fds=no -q

.PHONY: all deps check unit cli demo bench install clean fuzz faults check-valgrind
all: lastgood

deps:
	@scripts/install-deps build

lastgood: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJ) $(PKG_LIBS)

build/release/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c -o $@ $<

build/san/lastgood: $(SAN_OBJ) build/san/src/main.o
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS)

# Unit tests link against an archive so each pulls in only what it uses.
build/san/liblastgood.a: $(SAN_OBJ)
	rm -f $@ && ar rcs $@ $^

build/san/tests/%: tests/unit/%.c build/san/liblastgood.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -o $@ $< build/san/liblastgood.a $(PKG_LIBS) -lcmocka

# The fuzz targets are clang's libFuzzer whatever CC is. The library is
# built for coverage and archived, so each target links only what it uses.
build/fuzz/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -O1 -c -o $@ $<

build/fuzz/liblastgood.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/liblastgood.a
	$(CLANG) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -O1 -o $@ $< build/fuzz/liblastgood.a \
		$(PKG_LIBS)

build/valgrind/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 -g -c -o $@ $<

build/valgrind/lastgood: $(VALGRIND_OBJ)
	$(CC) $(ALL_CFLAGS) -O1 -g -o $@ $^ $(PKG_LIBS)

# The test command (README): sanitizer build, unit tests, a short fuzzing
# pass (tests/fuzz/run-fuzz reports TAP, so the tally counts each target),
# the fault injection tests (tests/faults/run-faults, TAP too), CLI tests.
check:
	@scripts/install-deps check
	@$(MAKE) --no-print-directory build/san/lastgood $(UNIT_BIN) examples/ziggie/demo-service \
		$(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) LASTGOOD=$(CURDIR)/build/san/lastgood \
		tests/run-tests build/san $(UNIT_BIN) tests/fuzz/run-fuzz tests/faults/run-faults

fuzz:
	@scripts/install-deps check
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz

# lastgood killed (SIGKILL), failed (EIO, ENOSPC) and out of disk at every
# step of deploy, rollback and recover of a live stack, driven from the
# outside with strace, and at random instants; counts in
# build/faults-summary.txt. FULL=1 tries every point, not a sample, and 300
# random instants.
faults:
	@scripts/install-deps check
	@$(MAKE) --no-print-directory build/san/lastgood examples/ziggie/demo-service
	@FULL=$(FULL) LASTGOOD=$(CURDIR)/build/san/lastgood tests/faults/run-faults

# Every lastgood the CLI tests start runs under valgrind through a wrapper;
# each process's report, if any, lands in build/valgrind/logs. Slow, so not
# part of check. Fails on a failing test or any report (valgrind's notes
# about itself, "--PID--" lines such as an unhandled pidfd_open, are not).
check-valgrind:
	@scripts/install-deps check
	@$(MAKE) --no-print-directory build/valgrind/lastgood examples/ziggie/demo-service
	@rm -rf build/valgrind/logs build/valgrind/bin
	@mkdir -p build/valgrind/logs build/valgrind/bin
	@printf '#!/bin/sh\nexec %s --log-file=%s/%%p.log %s "$$@"\n' '$(VALGRIND)' \
		'$(CURDIR)/build/valgrind/logs' '$(CURDIR)/build/valgrind/lastgood' \
		>build/valgrind/bin/lastgood
	@chmod +x build/valgrind/bin/lastgood
	@{ LASTGOOD=$(CURDIR)/build/valgrind/bin/lastgood LASTGOOD_VALGRIND=1 LC_ALL=C TZ=UTC \
		bats --tap $(VALGRIND_CLI); echo $$? >build/valgrind/bats.rc; } | tee build/valgrind/cli.tap; \
	rc=$$(cat build/valgrind/bats.rc); reports=0; \
	for log in build/valgrind/logs/*.log; do \
		grep -q '^==[0-9]*==' "$$log" || continue; \
		reports=$$((reports + 1)); echo "# valgrind report $$log:"; sed 's/^/#   /' "$$log"; \
	done; \
	echo "$$(grep -c '^ok ' build/valgrind/cli.tap) passed," \
		"$$(grep -c '^not ok ' build/valgrind/cli.tap) failed, $$reports valgrind reports"; \
	[ "$$rc" -eq 0 ] && [ "$$reports" -eq 0 ]

demo:
	@scripts/install-deps demo
	@$(MAKE) --no-print-directory lastgood examples/ziggie/demo-service
	@examples/ziggie/demo.sh

# Benchmarks (bench/run): time to recover, snapshot, switch, scale and databases,
# written to docs/BENCHMARKS.md. BENCH_SCALE=1 runs the sizes issue 5 names.
bench:
	@scripts/install-deps bench
	@$(MAKE) --no-print-directory lastgood examples/ziggie/demo-service
	@bench/run

# The small HTTP service the ziggie demo runs three times and the CLI tests
# start, break and roll back.
examples/ziggie/demo-service: examples/ziggie/demo-service.c
	$(CC) $(ALL_CFLAGS) -o $@ $<

install: lastgood
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 lastgood $(DESTDIR)$(BINDIR)/lastgood

clean:
	rm -rf build lastgood
