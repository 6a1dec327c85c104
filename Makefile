# lcm: Lua client for the LCM WebService.
#   make                 build lcm.core for LUA_VERSION (5.1 5.2 5.3 5.4 jit) and lcm-sim
#   make demo            the demo against the bundled simulator
#   make test            the whole spec suite
#   make lint            luacheck + cppcheck + version consistency
#   make install         lcm.core and the admin commands for LUA_VERSION: PREFIX, DESTDIR
#   make install-pg      lcm.outbox.postgresql, the PostgreSQL outbox (libpq), for LUA_VERSION
#   make install-sim     lcm-sim (PREFIX, DESTDIR)
#   make deb             the Debian packages lua-lcm, lua-lcm-postgresql, lcm-tools, lcm-sim into build/deb/
#   make asan            the suite with lcm.core built with AddressSanitizer and UBSan
#   make valgrind        a representative part of the suite under valgrind memcheck
#   make fuzz            libFuzzer on the answer path for FUZZ_SECONDS (default 60)
#   make embed-san       the embedding host under ThreadSanitizer and AddressSanitizer
#   make bench           the benchmark table (docs/performance.md)
#   make docs            the API reference (LDoc, config.ld) into build/docs/
# `make demo` and `make test` install missing Debian packages first (tools/deps.sh).
# Packagers: CPPFLAGS, CFLAGS and LDFLAGS from the environment are used (ours are added);
# WERROR=0 drops -Werror; LUA_CFLAGS overrides the Lua headers found with pkg-config.

VERSION     := $(shell cat VERSION)
LUA_VERSION ?= 5.4
PREFIX      ?= /usr/local
DESTDIR     ?=
WERROR      ?= 1

# LUA_VERSION=auto (the rockspec's build): the version of the interpreter LUA, which
# luarocks passes, with LUA_INCDIR; the build goes to build/rock-<version>.
ifeq ($(LUA_VERSION),auto)
override LUA_VERSION := $(shell $(LUA) -e 'print(jit and "jit" or _VERSION:sub(5))')
$(if $(LUA_VERSION),,$(error LUA_VERSION=auto needs LUA=<interpreter>, as luarocks passes it))
BUILD ?= build/rock-$(LUA_VERSION)
endif

# lib/lua/5.1 is shared by PUC Lua 5.1 and LuaJIT, so LUA_VERSION=5.1 and jit build the same
# module: against PUC 5.1's headers (LuaJIT's declare 5.2 functions lua5.1 lacks), with the
# Lua layer as bytecode for both VMs (DUMP_LUA). jit differs in the interpreter the specs
# run and the Lua the embedding host links.
# LUA, the interpreter, follows LUA_VERSION unless given on the command line (luarocks
# does): a LUA in the environment is not ours (the specs export one).
ifeq ($(LUA_VERSION),jit)
LUA_ABI  := 5.1
HOST_PC  := luajit
else ifneq ($(filter 5.1 5.2 5.3 5.4,$(LUA_VERSION)),)
LUA_ABI  := $(LUA_VERSION)
HOST_PC   = $(LUA_PC)
else
$(error LUA_VERSION must be one of 5.1 5.2 5.3 5.4 jit auto, not '$(LUA_VERSION)')
endif
ifneq ($(origin LUA),command line)
LUA := $(if $(filter jit,$(LUA_VERSION)),luajit,lua$(LUA_VERSION))
endif
ifeq ($(LUA_ABI),5.1)
DUMP_LUA ?= luajit lua5.1
else
DUMP_LUA ?= $(LUA)
endif

# The Lua headers: LUA_CFLAGS, else LUA_INCDIR (luarocks), else pkg-config under the names
# distributions use (Debian lua5.4, Fedora/Arch lua or lua-5.4, FreeBSD lua54). A LuaJIT
# LUA_INCDIR is not used for the 5.1 module (see above). Evaluated only when compiling.
pc = $(shell pkg-config $(1) $(2) 2>/dev/null)
LUA_PC = $(firstword $(foreach n,lua$(LUA_ABI) lua-$(LUA_ABI) lua$(subst .,,$(LUA_ABI)) lua,\
             $(shell pkg-config --exists '$(n) >= $(LUA_ABI)' '$(n) < $(LUA_ABI).99' 2>/dev/null && echo $(n))))
LUA_INCDIR_USED = $(if $(and $(filter 5.1,$(LUA_ABI)),$(wildcard $(LUA_INCDIR)/luajit.h)),,$(LUA_INCDIR))
LUA_CFLAGS ?= $(if $(LUA_INCDIR_USED),-I$(LUA_INCDIR_USED),$(call pc,--cflags,$(LUA_PC)))
HOST_CFLAGS = $(call pc,--cflags,$(HOST_PC))
HOST_LIBS   = $(call pc,--libs,$(HOST_PC))

BUILD    ?= build/$(LUA_VERSION)
CORE     := $(BUILD)/lcm/core.so
PG       := $(BUILD)/lcm/outbox/postgresql.so
SIM      := build/lcm-sim
ROCKSPEC := rockspec/lcm-$(VERSION)-1.rockspec

# CFLAGS and LDFLAGS come first in each command (ours after them): Debian's hardening
# flags reach every compile and link.
CFLAGS   ?= -O2 -g
WARN     := -std=c99 -pedantic -Wall -Wextra $(if $(filter 0,$(WERROR)),,-Werror) -Wshadow \
            -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
DEFS     := -D_DEFAULT_SOURCE -DLCM_VERSION='"$(VERSION)"'
SANITIZE ?=

CORE_SRC := $(wildcard csrc/*.c)
CORE_HDR := $(wildcard csrc/*.h)
# Headers generated into $(BUILD) (found with -I$(BUILD)): add to this list.
CORE_GEN := $(BUILD)/lua_modules.h

# busted as a Lua module of the interpreter under test (whatever installed it).
BUSTED   ?= $(LUA) tools/busted.lua

.PHONY: all module pg install-pg deps demo test lint install install-module install-bin install-sim uninstall clean \
        rockspec check-version asan valgrind fuzz embed-san bench deb docs

EMBED    := $(BUILD)/lcm-embed

all: $(CORE) $(PG) $(SIM) $(EMBED)

# lcm.core alone: what make install, the rockspec and the Debian package build.
module: $(CORE)

# lcm.outbox.postgresql alone (needs libpq-dev): the Debian package lua-lcm-postgresql.
pg: $(PG)

# The Lua layer but its entry file (lua/lcm/init.lua, two lines that hand over to lcm.public,
# so that the searchers find `require "lcm"` on the path as before), compiled to bytecode by each Lua of
# DUMP_LUA, then as source (for a VM build whose bytecode differs, e.g. a GC64 LuaJIT),
# carried in lcm.core: a fresh Lua state (FreeSWITCH: one per call) then loads it from
# package.preload instead of searching for and parsing ~20 KB of source.
LUA_MODULES := $(filter-out lua/lcm/init.lua,$(wildcard lua/lcm/*.lua))
$(BUILD)/lua_modules.h: $(LUA_MODULES) tools/embed_lua.lua Makefile
	@mkdir -p $(@D)
	$(LUA) tools/embed_lua.lua $(foreach l,$(DUMP_LUA),--dump $(l)) --source $@ \
	    $(foreach f,$(LUA_MODULES),lcm.$(basename $(notdir $(f)))=$(f))

# The CURLE_* table from the curl/curl.h the module is built against, with the phase of each
# code in csrc/curl_codes.txt: the build fails when the header has a code it lacks.
# (After an upgrade of libcurl's headers, `make clean`: the header is not a prerequisite,
# because finding it needs the compiler, and make reads prerequisites before deps exist.)
CORE_GEN += $(BUILD)/curl_codes.h
$(BUILD)/curl_codes.h: csrc/curl_codes.txt tools/curl_codes.lua Makefile
	@mkdir -p $(@D)
	printf '\043include <curl/curl.h>\n' | $(CC) $(CPPFLAGS) $(call pc,--cflags,libcurl) -E - | \
	    $(LUA) tools/curl_codes.lua csrc/curl_codes.txt $@

# The module does not link liblua: the host (lua, FreeSWITCH, Asterisk) provides it.
$(CORE): $(CORE_SRC) $(CORE_HDR) $(CORE_GEN) VERSION Makefile
	@mkdir -p $(@D)
	@test -n "$(strip $(LUA_CFLAGS))" || { echo "no Lua $(LUA_ABI) headers found with pkg-config:" \
	    "install them (make deps) or set LUA_CFLAGS=-I<dir of lua.h>" >&2; exit 1; }
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANITIZE) $(DEFS) -DLCM_EMBED_LUA -I$(BUILD) -fPIC \
	    -fvisibility=hidden $(LUA_CFLAGS) $(call pc,--cflags,libcurl) \
	    -shared $(LDFLAGS) -o $@ $(CORE_SRC) $(call pc,--libs,libcurl) -lz -ldl -pthread

# lcm.outbox.postgresql, the PostgreSQL outbox (docs/outbox.md): a module of its own, the
# only one linked with libpq, so that lcm.core is not and `require "lcm"` on a PBX without
# PostgreSQL loads nothing more. Its Lua half (lua/lcm/outbox/pg.lua, outside LUA_MODULES)
# is carried in it as source: the .so runs it at require, once per state that uses it.
PG_LUA   := lua/lcm/outbox/pg.lua
$(BUILD)/pg_modules.h: $(PG_LUA) tools/embed_lua.lua Makefile
	@mkdir -p $(@D)
	$(LUA) tools/embed_lua.lua --source $@ lcm.outbox.pg=$(PG_LUA)

$(PG): csrc/pg/outbox_pg.c csrc/module.c csrc/module.h csrc/compat.h $(BUILD)/pg_modules.h VERSION Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANITIZE) $(DEFS) -I$(BUILD) -Icsrc -fPIC -fvisibility=hidden \
	    $(LUA_CFLAGS) $(call pc,--cflags,libpq) -shared $(LDFLAGS) -o $@ csrc/pg/outbox_pg.c csrc/module.c $(call pc,--libs,libpq) -ldl

# The simulator embeds Lua 5.4 (whatever LUA_VERSION the module is built for) and its
# request handler, sim/handler.lua, compiled in so the binary runs from anywhere.
build/sim_handler.h: sim/handler.lua tools/embed_lua.lua
	@mkdir -p $(@D)
	lua5.4 tools/embed_lua.lua $@ sim.handler=sim/handler.lua

$(SIM): sim/lcm_sim.c build/sim_handler.h VERSION Makefile
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANITIZE) $(DEFS) -Ibuild $(call pc,--cflags,lua5.4) \
	    $(call pc,--cflags,libmicrohttpd) $(LDFLAGS) -o $@ sim/lcm_sim.c \
	    $(call pc,--libs,lua5.4) $(call pc,--libs,libmicrohttpd) -lm -pthread

# The embedding test host: embed/loader.c is the server process (no liblua of its own), which
# loads embed/host.c, built as a module linked with the Lua of LUA_VERSION, with RTLD_GLOBAL,
# the way Asterisk loads pbx_lua and FreeSWITCH mod_lua.
$(EMBED): embed/loader.c $(EMBED)-pbx.so Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANITIZE) -D_DEFAULT_SOURCE $(LDFLAGS) -o $@ embed/loader.c -ldl

$(EMBED)-pbx.so: embed/host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANITIZE) -D_DEFAULT_SOURCE -fPIC -shared -fvisibility=hidden \
	    $(HOST_CFLAGS) $(LDFLAGS) -o $@ embed/host.c $(HOST_LIBS) -lm -pthread

deps:
	@sh tools/deps.sh

# For the specs only: runs a program with getrandom refused by a seccomp filter.
NO_GETRANDOM := build/no-getrandom
$(NO_GETRANDOM): tools/no_getrandom.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -D_DEFAULT_SOURCE $(LDFLAGS) -o $@ tools/no_getrandom.c

BUSTED_ENV := LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
              LCM_SIM="$(CURDIR)/$(SIM)" LCM_EMBED="$(CURDIR)/$(EMBED)" LUA="$(LUA)" \
              LCM_NO_GETRANDOM="$(CURDIR)/$(NO_GETRANDOM)"

# Then the dialer loop on tasks (examples/dialer_async.lua), which starts its own lcm-sim
# with latency and faults armed.
demo: deps
	@$(MAKE) --no-print-directory all
	@$(BUSTED_ENV) sh tools/with-sim.sh $(LUA) examples/dialer.lua
	@echo
	@$(BUSTED_ENV) $(LUA) examples/dialer_async.lua

test: deps
	@$(MAKE) --no-print-directory all $(NO_GETRANDOM)
	$(BUSTED_ENV) $(BUSTED)

# The sanitizer runtimes are preloaded into the interpreter, which is not built with them.
# The spec helpers pass them on to the Lua processes they start (LCM_PRELOAD) and keep
# them away from everything else (lcm-sim, curl, sh...). Any report fails the run.
# Deferred (=): a bare machine has no compiler before make deps installs one.
SAN_PRELOAD = $(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)
SAN_BUILD   := build/asan-$(LUA_VERSION)

asan: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory $(SIM) $(NO_GETRANDOM) $(EMBED)
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" $(SAN_BUILD)/lcm/core.so \
	    $(SAN_BUILD)/lcm/outbox/postgresql.so
	LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(SAN_BUILD)/?.so;;" LCM_SIM="$(CURDIR)/$(SIM)" \
	LUA="$(LUA)" LCM_PRELOAD="$(SAN_PRELOAD)" LD_PRELOAD="$(SAN_PRELOAD)" LCM_NO_GETRANDOM="$(CURDIR)/$(NO_GETRANDOM)" \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LCM_TIME_FACTOR=3 \
	    $(BUSTED)

# The embedding host's specs (spec/embed_spec.lua: both host models, 16 threads over http and
# https, the pool, the budget, the outbox) with the host and lcm.core built with
# ThreadSanitizer, then AddressSanitizer+UBSan. The interpreter running busted keeps the
# plain build; only the host processes load the sanitized module (LCM_EMBED_CPATH). Any
# report fails the run.
EMBED_SPEC = $(BUSTED_ENV) LCM_EMBED="$(CURDIR)/build/$(1)-$(LUA_VERSION)/lcm-embed" \
    LCM_EMBED_CPATH="build/$(1)-$(LUA_VERSION)/?.so;;" $(BUSTED) spec/embed_spec.lua

embed-san: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=build/tsan-$(LUA_VERSION) CFLAGS="-O1 -g" \
	    SANITIZE="-fsanitize=thread" build/tsan-$(LUA_VERSION)/lcm/core.so build/tsan-$(LUA_VERSION)/lcm-embed
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(call EMBED_SPEC,tsan)
	@$(MAKE) --no-print-directory BUILD=build/asan-$(LUA_VERSION) CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    build/asan-$(LUA_VERSION)/lcm/core.so build/asan-$(LUA_VERSION)/lcm-embed
	$(call EMBED_SPEC,asan)

# Memcheck is ~30x slower: the specs of the C paths (encode, answer, records, transport, outbox), not all.
VALGRIND_SPECS := spec/codec_spec.lua spec/json_spec.lua spec/check_spec.lua spec/client_spec.lua \
                  spec/retry_spec.lua spec/outbox_spec.lua spec/outbox_records_spec.lua spec/transport_spec.lua \
                  spec/pool_spec.lua spec/records_spec.lua spec/tasks_spec.lua
valgrind: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory all
	$(BUSTED_ENV) LCM_TIME_FACTOR=30 valgrind --quiet --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --suppressions=tools/valgrind.supp $(BUSTED) $(VALGRIND_SPECS)

FUZZ_SECONDS ?= 60
FUZZ := build/fuzz-answer
$(FUZZ): fuzz/answer_fuzz.c $(CORE_SRC) $(CORE_HDR) $(BUILD)/curl_codes.h VERSION Makefile
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) -Icsrc -I$(BUILD) $(call pc,--cflags,lua5.4) \
	    $(call pc,--cflags,libcurl) -o $@ fuzz/answer_fuzz.c $(CORE_SRC) \
	    $(call pc,--libs,lua5.4) $(call pc,--libs,libcurl) -lz -ldl -pthread

# The outbox's record reader alone (csrc/record.c: pure, no Lua).
FUZZ_RECORD := build/fuzz-record
$(FUZZ_RECORD): fuzz/record_fuzz.c csrc/record.c csrc/record.h Makefile
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc -o $@ fuzz/record_fuzz.c csrc/record.c -lz

# The seeds stay as they are; what libFuzzer finds goes to a scratch corpus. Each target
# runs FUZZ_SECONDS.
fuzz: deps
	@sh tools/deps.sh --checks
	@$(MAKE) --no-print-directory $(FUZZ) $(FUZZ_RECORD)
	@mkdir -p build/fuzz-corpus build/fuzz-record-corpus
	$(FUZZ) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz-corpus fuzz/corpus
	$(FUZZ_RECORD) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz-record-corpus

# The benchmark (bench/bench.lua): nginx as the fixed-response server, the raw libcurl
# floor and the lcm rows measured in one run. Not a test: it prints a table.
BENCH_HOST := build/bench_host
$(BENCH_HOST): bench/bench_host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -D_DEFAULT_SOURCE $(call pc,--cflags,lua5.4) $(call pc,--cflags,libcurl) \
	    $(LDFLAGS) -o $@ \
	    bench/bench_host.c $(call pc,--libs,lua5.4) $(call pc,--libs,libcurl) -lm -pthread

# The callgrind rows' host (bench/cg_host.c): Lua's static library, so the profile names
# Lua's internal functions, with its API exported (-Wl,-E) for the C modules, as a PBX does.
CG_HOST := build/cg_host
$(CG_HOST): bench/cg_host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -D_DEFAULT_SOURCE $(call pc,--cflags,lua5.4) $(call pc,--cflags,libcurl) \
	    $(LDFLAGS) -o $@ bench/cg_host.c -Wl,-E -Wl,--whole-archive $(call pc,--variable=libdir,lua5.4)/liblua5.4.a \
	    -Wl,--no-whole-archive $(call pc,--libs,libcurl) -lm -ldl

# The baseline of the rows of many calls in flight (bench/async.lua): a C loop on libcurl's
# multi interface.
MULTI_HOST := build/multi_host
$(MULTI_HOST): bench/multi_host.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -D_DEFAULT_SOURCE $(call pc,--cflags,libcurl) $(LDFLAGS) -o $@ \
	    bench/multi_host.c $(call pc,--libs,libcurl)

# BENCH_ONLY=async: only the rows of many calls in flight.
bench: deps
	@sh tools/deps.sh --bench
	@$(MAKE) --no-print-directory LUA_VERSION=5.4 all $(BENCH_HOST) $(CG_HOST) $(MULTI_HOST)
	@LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/build/5.4/?.so;;" \
	    BENCH_HOST="$(CURDIR)/$(BENCH_HOST)" CG_HOST="$(CURDIR)/$(CG_HOST)" \
	    MULTI_HOST="$(CURDIR)/$(MULTI_HOST)" lua5.4 bench/bench.lua

# The API reference: LDoc (Debian's lua-ldoc) reads the doc comments (`---` blocks) of the
# files config.ld names and writes HTML to DOCS_DIR. Any warning fails the build. LDoc
# prints warnings and still exits 0 for some (--fatalwarnings misses a bad reference in a
# module's own description), so its output is kept and any line but the ones it always
# prints is a failure (a missing formatter too: "format: discount not found, falling back
# to text"). DOCS_CONFIG: another config.ld (the specs check that a broken one fails).
LDOC        ?= ldoc
DOCS_DIR    ?= build/docs
DOCS_CONFIG ?= config.ld
# DOCS_DEPS: what installs LDoc first; debian/rules sets it to `:` (a package build gets
# LDoc from Build-Depends and must not run apt-get).
DOCS_DEPS   ?= sh tools/deps.sh --docs
# LDoc writes its built-in style and template to /tmp/ldoc<home> on every run unless given
# a directory: they are written under build/ instead (by the Lua that has LDoc's modules),
# so make docs (and make test, which runs it) leaves nothing in /tmp.
LDOC_TEMPLATES = $(dir $(abspath $(DOCS_DIR)))ldoc-templates
LDOC_WRITE = for _, n in ipairs { "css", "ltp" } do local f = assert(io.open(os.getenv("LDOC_T") .. "/ldoc." .. n, "w")) f:write(require("ldoc.html.ldoc_" .. n)) f:close() end
LDOC_LUA = $(firstword $(foreach l,lua5.1 lua5.2,$(shell $(l) -e 'require "ldoc.html.ldoc_css"' 2>/dev/null && echo $(l))))
docs:
	@$(DOCS_DEPS)
	@rm -rf $(DOCS_DIR) && mkdir -p $(DOCS_DIR)
	@t='$(LDOC_TEMPLATES)'; opts=; if [ -n "$(LDOC_LUA)" ] && mkdir -p "$$t" && LDOC_T="$$t" $(LDOC_LUA) -e '$(LDOC_WRITE)'; \
	    then opts="--style $$t --template $$t"; fi; \
	$(LDOC) $$opts --fatalwarnings -c $(DOCS_CONFIG) -d $(abspath $(DOCS_DIR)) . > $(DOCS_DIR)/ldoc.log 2>&1; rc=$$?; \
	    grep -v -e '^reading configuration from ' -e '^found master module' -e '^output written to ' \
	        -e '^changing to directory' $(DOCS_DIR)/ldoc.log | grep . >&2 && \
	        { echo "make docs: LDoc warned (above): fix the doc comments" >&2; exit 1; }; \
	    test $$rc -eq 0 || { cat $(DOCS_DIR)/ldoc.log >&2; echo "make docs: LDoc failed" >&2; exit 1; }
	@rm -f $(DOCS_DIR)/ldoc.log
	@echo "make docs: $(DOCS_DIR)/index.html"

lint: check-version
	luacheck --no-color lua spec examples sim bench bin .luacheckrc .busted
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c99 --inline-suppr -Icsrc csrc sim/lcm_sim.c fuzz/answer_fuzz.c embed/host.c embed/loader.c \
	    bench/bench_host.c bench/cg_host.c bench/multi_host.c tools/no_getrandom.c spec/helpers/alloc_host.c spec/helpers/fork_host.c \
	    fuzz/record_fuzz.c

# The version is written once, in VERSION; the rockspec is generated from its template
# and committed (luarocks needs a file), and this check keeps the two from drifting, and
# debian/changelog (whose entries are written by hand) from naming another version.
rockspec:
	sed 's/@VERSION@/$(VERSION)/g' rockspec/lcm.rockspec.in > $(ROCKSPEC)

check-version:
	@test -f $(ROCKSPEC) || { echo "missing $(ROCKSPEC): run make rockspec"; exit 1; }
	@sed 's/@VERSION@/$(VERSION)/g' rockspec/lcm.rockspec.in | cmp -s - $(ROCKSPEC) || \
	    { echo "$(ROCKSPEC) is out of date: run make rockspec"; exit 1; }
	@test "$$(ls rockspec/*.rockspec)" = "$(ROCKSPEC)" || \
	    { echo "stale rockspecs in rockspec/"; exit 1; }
	@test "$$(sed -n '1s/^lcm (\([^)]*\)).*/\1/p' debian/changelog)" = "$(VERSION)" || \
	    { echo "debian/changelog's version is not $(VERSION): add an entry (dch -v $(VERSION))"; exit 1; }

# Where make install puts things (luarocks passes its own: rockspec/lcm.rockspec.in).
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)
INST_BINDIR ?= $(PREFIX)/bin
# The interpreter the installed commands name in their #! line (the one the module was
# installed for, not whichever `lua` the alternatives chose).
LUA_INTERP  ?= $(or $(shell command -v $(LUA)),/usr/bin/$(LUA))
BIN_SCRIPTS := $(wildcard bin/*)

# The module and the admin commands; only lcm.lua of the Lua files: the rest of the layer
# is embedded in core.so and a copy on the path would never be loaded. No simulator.
# install-module and install-bin are the halves (the Debian package installs the module
# for every Lua and the commands once).
install: install-module install-bin

install-module: $(CORE)
	install -d $(DESTDIR)$(INST_LIBDIR)/lcm $(DESTDIR)$(INST_LUADIR)
	install -m 0644 $(CORE) $(DESTDIR)$(INST_LIBDIR)/lcm/core.so
	install -m 0644 lua/lcm/init.lua $(DESTDIR)$(INST_LUADIR)/lcm.lua

# The PostgreSQL outbox's module, for a host that uses one (package lua-lcm-postgresql).
install-pg: $(PG)
	install -d $(DESTDIR)$(INST_LIBDIR)/lcm/outbox
	install -m 0644 $(PG) $(DESTDIR)$(INST_LIBDIR)/lcm/outbox/postgresql.so

install-bin:
	install -d $(DESTDIR)$(INST_BINDIR)
	for f in $(BIN_SCRIPTS); do \
	    sed '1s|^#!.*|#!$(LUA_INTERP)|' $$f > $(DESTDIR)$(INST_BINDIR)/$${f#bin/} && \
	    chmod 0755 $(DESTDIR)$(INST_BINDIR)/$${f#bin/} || exit 1; done

install-sim: $(SIM)
	install -d $(DESTDIR)$(INST_BINDIR)
	install -m 0755 $(SIM) $(DESTDIR)$(INST_BINDIR)/lcm-sim

uninstall:
	rm -f $(DESTDIR)$(INST_LIBDIR)/lcm/core.so $(DESTDIR)$(INST_LIBDIR)/lcm/outbox/postgresql.so \
	    $(DESTDIR)$(INST_LUADIR)/lcm.lua \
	    $(DESTDIR)$(INST_BINDIR)/lcm-sim $(patsubst bin/%,$(DESTDIR)$(INST_BINDIR)/%,$(BIN_SCRIPTS))
	-rmdir $(DESTDIR)$(INST_LIBDIR)/lcm/outbox
	-rmdir $(DESTDIR)$(INST_LIBDIR)/lcm

# Debian packages (debian/), built by dpkg-buildpackage in a copy of the tree under
# build/deb/ (the tree stays clean; the .deb files land in build/deb/).
deb:
	@sh tools/deps.sh --deb
	rm -rf build/deb && mkdir -p build/deb/lcm-$(VERSION)
	{ git ls-files --cached --others --exclude-standard 2>/dev/null || find . -path ./build -prune -o \
	    -path ./.git -prune -o -type f -print; } | while read -r f; do [ -e "$$f" ] && echo "$$f"; done | \
	    tar -cf - -T - | tar -xf - -C build/deb/lcm-$(VERSION)
	cd build/deb/lcm-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error --info build/deb/*.changes

clean:
	rm -rf build
