# lastgood build. `make` builds ./lastgood; `make check` builds with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs every test;
# `make demo` runs the demo. Both install missing Debian packages first.

CC      ?= cc
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
PKGS    := yaml-0.1 libcurl sqlite3 libpq libcrypto jansson libarchive

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Isrc $(PKG_CFLAGS) $(CFLAGS)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRC      := $(sort $(wildcard src/util/*.c src/core/*.c src/cmd/*.c))
MAIN     := src/main.c
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ      := $(SRC:%.c=build/release/%.o) build/release/src/main.o
SAN_OBJ  := $(SRC:%.c=build/san/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/san/tests/%)

.PHONY: all deps check unit cli demo install clean
all: lastgood

deps:
	@scripts/install-deps build

lastgood: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJ) $(PKG_LIBS)

build/release/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/%.o: %.c $(wildcard src/*/*.h)
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

# The test command (README): sanitizer build, unit tests, CLI tests.
check:
	@scripts/install-deps check
	@$(MAKE) --no-print-directory build/san/lastgood $(UNIT_BIN) examples/ziggie/demo-service
	@tests/run-tests build/san $(UNIT_BIN)

demo:
	@scripts/install-deps demo
	@$(MAKE) --no-print-directory lastgood examples/ziggie/demo-service
	@examples/ziggie/demo.sh

# The small HTTP service the ziggie demo runs three times and the CLI tests
# start, break and roll back.
examples/ziggie/demo-service: examples/ziggie/demo-service.c
	$(CC) $(ALL_CFLAGS) -o $@ $<

install: lastgood
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 lastgood $(DESTDIR)$(BINDIR)/lastgood

clean:
	rm -rf build lastgood
