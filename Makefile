# lcm: Lua client for the LCM WebService.
#   make                 build lcm.core for LUA_VERSION (5.1 5.2 5.3 5.4 jit) and lcm-sim
#   make demo            the demo against the bundled simulator
#   make test            the whole spec suite
#   make lint            luacheck + cppcheck + version consistency
#   make install         PREFIX, DESTDIR, LUA_VERSION
#   make asan            the suite with lcm.core built with AddressSanitizer and UBSan
#   make valgrind        a representative part of the suite under valgrind memcheck
#   make fuzz            libFuzzer on the answer path for FUZZ_SECONDS (default 60)
#   make embed-san       the embedding host under ThreadSanitizer and AddressSanitizer
#   make bench           the benchmark table (README, "Performance")
# `make demo` and `make test` install missing Debian packages first (tools/deps.sh).

VERSION     := $(shell cat VERSION)
LUA_VERSION ?= 5.4
PREFIX      ?= /usr/local
DESTDIR     ?=

ifeq ($(LUA_VERSION),jit)
LUA_PC  := luajit
LUA     := luajit
LUA_ABI := 5.1
else ifneq ($(filter 5.1 5.2 5.3 5.4,$(LUA_VERSION)),)
LUA_PC  := lua$(LUA_VERSION)
LUA     := lua$(LUA_VERSION)
LUA_ABI := $(LUA_VERSION)
else
$(error LUA_VERSION must be one of 5.1 5.2 5.3 5.4 jit, not '$(LUA_VERSION)')
endif

BUILD    ?= build/$(LUA_VERSION)
CORE     := $(BUILD)/lcm/core.so
SIM      := build/lcm-sim
ROCKSPEC := rockspec/lcm-$(VERSION)-1.rockspec

CFLAGS   ?= -O2 -g
WARN     := -std=c99 -pedantic -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
DEFS     := -D_DEFAULT_SOURCE -DLCM_VERSION='"$(VERSION)"'
SANITIZE ?=

pc = $(shell pkg-config $(1) $(2) 2>/dev/null)

CORE_SRC := $(wildcard csrc/*.c)
CORE_HDR := $(wildcard csrc/*.h)

.PHONY: all deps demo test lint install uninstall clean rockspec check-version asan valgrind fuzz embed-san bench

EMBED    := $(BUILD)/lcm-embed

all: $(CORE) $(SIM) $(EMBED)

# The Lua layer but its entry file (lua/lcm/init.lua), compiled to bytecode by the Lua of
# LUA_VERSION and carried in lcm.core: a fresh Lua state (FreeSWITCH: one per call) then
# loads it from package.preload instead of searching for and parsing ~20 KB of source.
LUA_MODULES := $(filter-out lua/lcm/init.lua,$(wildcard lua/lcm/*.lua))
$(BUILD)/lua_modules.h: $(LUA_MODULES) tools/embed_lua.lua
	@mkdir -p $(@D)
	$(LUA) tools/embed_lua.lua --dump $@ $(foreach f,$(LUA_MODULES),lcm.$(basename $(notdir $(f)))=$(f))

# The module does not link liblua: the host (lua, FreeSWITCH, Asterisk) provides it.
$(CORE): $(CORE_SRC) $(CORE_HDR) $(BUILD)/lua_modules.h VERSION Makefile
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(SANITIZE) $(DEFS) -DLCM_EMBED_LUA -I$(BUILD) -fPIC -fvisibility=hidden \
	    $(call pc,--cflags,$(LUA_PC)) $(call pc,--cflags,libcurl) \
	    -shared -o $@ $(CORE_SRC) $(call pc,--libs,libcurl) -lz -ldl -pthread

# The simulator embeds Lua 5.4 (whatever LUA_VERSION the module is built for) and its
# request handler, sim/handler.lua, compiled in so the binary runs from anywhere.
build/sim_handler.h: sim/handler.lua tools/embed_lua.lua
	@mkdir -p $(@D)
	lua5.4 tools/embed_lua.lua $@ sim.handler=sim/handler.lua

$(SIM): sim/lcm_sim.c build/sim_handler.h VERSION Makefile
	$(CC) $(WARN) $(CFLAGS) $(SANITIZE) $(DEFS) -Ibuild $(call pc,--cflags,lua5.4) \
	    $(call pc,--cflags,libmicrohttpd) -o $@ sim/lcm_sim.c \
	    $(call pc,--libs,lua5.4) $(call pc,--libs,libmicrohttpd) -lm -pthread

# The embedding test host (embed/host.c), linked with the Lua of LUA_VERSION like a
# FreeSWITCH or Asterisk built against it.
$(EMBED): embed/host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(SANITIZE) -D_DEFAULT_SOURCE $(call pc,--cflags,$(LUA_PC)) -o $@ embed/host.c \
	    $(call pc,--libs,$(LUA_PC)) -lm -pthread

deps:
	@sh tools/deps.sh

BUSTED_ENV := LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
              LCM_SIM="$(CURDIR)/$(SIM)" LCM_EMBED="$(CURDIR)/$(EMBED)" LUA="$(LUA)"

demo: deps
	@$(MAKE) --no-print-directory all
	@$(BUSTED_ENV) sh tools/with-sim.sh $(LUA) examples/dialer.lua

test: deps
	@$(MAKE) --no-print-directory all
	$(BUSTED_ENV) $(LUA) /usr/bin/busted

# The sanitizer runtimes are preloaded into the interpreter, which is not built with them.
# The spec helpers pass them on to the Lua processes they start (LCM_PRELOAD) and keep
# them away from everything else (lcm-sim, curl, sh...). Any report fails the run.
SAN_PRELOAD := $(shell gcc -print-file-name=libasan.so) $(shell gcc -print-file-name=libubsan.so)
SAN_BUILD   := build/asan-$(LUA_VERSION)

asan: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory $(SIM)
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" $(SAN_BUILD)/lcm/core.so
	LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(SAN_BUILD)/?.so;;" LCM_SIM="$(CURDIR)/$(SIM)" \
	LUA="$(LUA)" LCM_PRELOAD="$(SAN_PRELOAD)" LD_PRELOAD="$(SAN_PRELOAD)" \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(LUA) /usr/bin/busted

# The embedding host under ThreadSanitizer, then AddressSanitizer+UBSan: both modes, the
# module and the host built with the sanitizer, against lcm-sim. Any report fails the run.
EMBED_RUN = LCM_SIM_ARGS="--fixtures embed/fixtures.json" LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
    LUA_CPATH="build/$(1)-$(LUA_VERSION)/?.so;;" sh tools/with-sim.sh sh -c \
    'for m in freeswitch asterisk; do build/$(1)-$(LUA_VERSION)/lcm-embed --mode $$m --threads 4 \
     --calls 25 --url "$$LCM_URL" >/dev/null || exit 1; done'

embed-san: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory $(SIM)
	@$(MAKE) --no-print-directory BUILD=build/tsan-$(LUA_VERSION) CFLAGS="-O1 -g" \
	    SANITIZE="-fsanitize=thread" build/tsan-$(LUA_VERSION)/lcm/core.so build/tsan-$(LUA_VERSION)/lcm-embed
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(call EMBED_RUN,tsan)
	@$(MAKE) --no-print-directory BUILD=build/asan-$(LUA_VERSION) CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    build/asan-$(LUA_VERSION)/lcm/core.so build/asan-$(LUA_VERSION)/lcm-embed
	ASAN_OPTIONS=detect_leaks=1 $(call EMBED_RUN,asan)

# Memcheck is ~30x slower: the specs of the C paths (codec, transport, outbox), not all.
VALGRIND_SPECS := spec/codec_spec.lua spec/check_spec.lua spec/client_spec.lua \
                  spec/retry_spec.lua spec/outbox_spec.lua
valgrind: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory all
	$(BUSTED_ENV) valgrind --quiet --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --suppressions=tools/valgrind.supp $(LUA) /usr/bin/busted $(VALGRIND_SPECS)

FUZZ_SECONDS ?= 60
FUZZ := build/fuzz-answer
$(FUZZ): fuzz/answer_fuzz.c $(CORE_SRC) $(CORE_HDR) VERSION Makefile
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) -Icsrc $(call pc,--cflags,lua5.4) \
	    $(call pc,--cflags,libcurl) -o $@ fuzz/answer_fuzz.c $(CORE_SRC) \
	    $(call pc,--libs,lua5.4) $(call pc,--libs,libcurl) -lz -ldl -pthread

# The seeds stay as they are; what libFuzzer finds goes to a scratch corpus.
fuzz: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory $(FUZZ)
	@mkdir -p build/fuzz-corpus
	$(FUZZ) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz-corpus fuzz/corpus

# The benchmark (bench/bench.lua): nginx as the fixed-response server, the raw libcurl
# floor and the lcm rows measured in one run. Not a test: it prints a table.
BENCH_HOST := build/bench_host
$(BENCH_HOST): bench/bench_host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -D_DEFAULT_SOURCE $(call pc,--cflags,lua5.4) $(call pc,--cflags,libcurl) -o $@ \
	    bench/bench_host.c $(call pc,--libs,lua5.4) $(call pc,--libs,libcurl) -lm

bench: deps
	@sh tools/deps.sh --bench
	@$(MAKE) --no-print-directory LUA_VERSION=5.4 all $(BENCH_HOST)
	@LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/build/5.4/?.so;;" \
	    BENCH_HOST="$(CURDIR)/$(BENCH_HOST)" lua5.4 bench/bench.lua

lint: check-version
	luacheck --no-color lua spec examples sim bench bin .luacheckrc .busted
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c99 --inline-suppr -Icsrc csrc sim/lcm_sim.c fuzz/answer_fuzz.c embed/host.c \
	    bench/bench_host.c

# The version is written once, in VERSION; the rockspec is generated from its template
# and committed (luarocks needs a file), and this check keeps the two from drifting.
rockspec:
	sed 's/@VERSION@/$(VERSION)/g' rockspec/lcm.rockspec.in > $(ROCKSPEC)

check-version:
	@test -f $(ROCKSPEC) || { echo "missing $(ROCKSPEC): run make rockspec"; exit 1; }
	@sed 's/@VERSION@/$(VERSION)/g' rockspec/lcm.rockspec.in | cmp -s - $(ROCKSPEC) || \
	    { echo "$(ROCKSPEC) is out of date: run make rockspec"; exit 1; }
	@test "$$(ls rockspec/*.rockspec)" = "$(ROCKSPEC)" || \
	    { echo "stale rockspecs in rockspec/"; exit 1; }

LIBDIR   := $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)
SHAREDIR := $(DESTDIR)$(PREFIX)/share/lua/$(LUA_ABI)

install: all
	install -d $(LIBDIR)/lcm $(SHAREDIR)/lcm $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(CORE) $(LIBDIR)/lcm/core.so
	install -m 0644 lua/lcm/*.lua $(SHAREDIR)/lcm/
	install -m 0755 $(SIM) $(DESTDIR)$(PREFIX)/bin/lcm-sim
	install -m 0755 bin/lcm-flush-outbox $(DESTDIR)$(PREFIX)/bin/lcm-flush-outbox
	install -m 0755 bin/lcm $(DESTDIR)$(PREFIX)/bin/lcm

uninstall:
	rm -rf $(LIBDIR)/lcm $(SHAREDIR)/lcm $(DESTDIR)$(PREFIX)/bin/lcm-sim \
	    $(DESTDIR)$(PREFIX)/bin/lcm-flush-outbox $(DESTDIR)$(PREFIX)/bin/lcm

clean:
	rm -rf build
