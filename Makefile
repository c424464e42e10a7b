# graft - build, test and install.
#
#   make            the shared and static libraries in lib/, the tool bin/graft
#   make demo       transfer learning on the shipped base model, measured
#   make pretrain   remake that base model from Fashion-MNIST
#   make test       build and run every test (installs missing Debian packages as root)
#   make deps       install the Debian packages graft needs, when missing
#   make install    PREFIX=/usr/local DESTDIR= : header, libraries, graft.pc
#   make bench      build and run the benchmarks in bench/
#   make onnx-fixtures  regenerate the ONNX whole-network fixtures with PyTorch
#   make refs       regenerate tests/data/torch_refs.txt and torch_loss_refs.txt with PyTorch (python3-torch)
#                   and the model-zoo fixtures (zoo-fixtures)
#   make zoo-fixtures   regenerate the compact model-zoo fixtures in tests/data/zoo/
#   make check-zoo  full-size torchvision models through import, fine-tuning and
#                   export (docs/ONNX-ZOO.md; heavy, not part of make test)
#   make clean

VERSION_MAJOR := $(shell sed -n 's/^\#define GRAFT_VERSION_MAJOR \([0-9]*\).*/\1/p' include/graft.h)
VERSION_MINOR := $(shell sed -n 's/^\#define GRAFT_VERSION_MINOR \([0-9]*\).*/\1/p' include/graft.h)
VERSION_PATCH := $(shell sed -n 's/^\#define GRAFT_VERSION_PATCH \([0-9]*\).*/\1/p' include/graft.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=

CC ?= cc
CXX ?= g++
OPT ?= -O2
CFLAGS ?= $(OPT) -g
GRAFT_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -fPIC \
                -fvisibility=hidden -Iinclude -Isrc
LIBS := -lopenblas -lpng -ljpeg -lz -lm -lpthread

# Debian packages. Building (deps): OpenBLAS, libpng, libjpeg-turbo, zlib
# (gzipped IDX datasets; libpng needs it anyway). Testing (deps-test): Check;
# valgrind runs the suites once more looking for memory errors and leaks;
# netpbm and libjpeg-turbo-progs decode the image fixtures independently
# (pngtopnm, djpeg); libonnx-testdata is ONNX's own operator test suite;
# python3-onnx's onnx.checker validates the files graft_onnx_export() writes;
# python3 runs the Python binding's tests and the tool's test script.
# `make demo` needs only the first list.
DEB_PACKAGES := libopenblas-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev pkg-config
TEST_DEB_PACKAGES := check valgrind netpbm libjpeg-turbo-progs libonnx-testdata python3 python3-onnx

# Installs the Debian packages in $(1) that are missing (as root), or prints
# the command that would (as another user).
define deb_install
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "graft needs these Debian packages:$$missing"; \
	    echo "Run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

# Output folders (overridable, e.g. for parallel builds of one tree).
BUILD ?= build
LIBOUT ?= lib

SONAME := libgraft.so.$(VERSION_MAJOR)
SHARED := $(LIBOUT)/libgraft.so.$(VERSION)
STATIC := $(LIBOUT)/libgraft.a

# The library's floors, each using only the ones below it (docs/ARCHITECTURE.md):
# core <- layers <- data <- model <- onnx; src/cli is the tool over the public API.
LIB_DIRS := core layers data model onnx
SRCS := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
HEADERS := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.h)) include/graft.h
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))

TEST_SRCS := $(wildcard tests/check_*.c) tests/testutil.c tests/main.c
TEST_OBJS := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(TEST_SRCS))

.PHONY: all deps deps-test check-tree test install clean refs demo pretrain demo-torch cli check-header check-symbols examples run-examples test-valgrind test-cli test-python bench \
        test-onnx-conformance onnx-skipped onnx-fixtures zoo-fixtures check-zoo

all: $(SHARED) $(STATIC) bin/graft

deps:
	$(call deb_install,$(DEB_PACKAGES))

deps-test: | deps
	$(call deb_install,$(TEST_DEB_PACKAGES))

# The Winograd transforms: a * b + c may become one fused multiply-add in the
# copies compiled for CPUs that have it.
$(BUILD)/obj/layers/conv_winograd.o: GRAFT_CFLAGS += -ffp-contract=fast

$(BUILD)/obj/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -c $< -o $@

$(SHARED): $(OBJS) src/libgraft.map
	@mkdir -p $(LIBOUT)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libgraft.map \
	  -Wl,--no-undefined -o $@ $(OBJS) $(LIBS)
	ln -sf libgraft.so.$(VERSION) $(LIBOUT)/$(SONAME)
	ln -sf $(SONAME) $(LIBOUT)/libgraft.so

$(STATIC): $(OBJS)
	@mkdir -p $(LIBOUT)
	rm -f $@
	ar rcs $@ $(OBJS)

# ---- the command-line tool ----------------------------------------------------
# bin/graft links the shared library and finds it at ../lib from its own folder,
# both in this tree and after make install.

CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(patsubst src/cli/%.c,$(BUILD)/cli/%.o,$(CLI_SRCS))

$(BUILD)/cli/%.o: src/cli/%.c $(wildcard src/cli/*.h) include/graft.h | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Iinclude -c $< -o $@

bin/graft: $(CLI_OBJS) $(SHARED)
	@mkdir -p bin
	$(CC) -o $@ $(CLI_OBJS) -L$(LIBOUT) -lgraft -lpng -lm -Wl,-rpath,'$$ORIGIN/../lib' \
	  -Wl,-rpath,$(abspath $(LIBOUT))

cli: bin/graft

# The main job: transfer learning measured on the shipped base model.
# One BLAS thread: the demo's small batches ran twice as fast so on two shared
# cores (docs/DEMO.md), and the table is then the one README shows.
demo: bin/graft
	OPENBLAS_NUM_THREADS=1 ./bin/graft demo

# Remakes the shipped base model from Fashion-MNIST (Debian's dataset-fashion-mnist).
pretrain: bin/graft
	@dpkg-query -W -f='$${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "ok installed" || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq dataset-fashion-mnist; \
	    else echo "Run: sudo apt-get install dataset-fashion-mnist"; exit 1; fi; }
	./bin/graft demo --pretrain

# Pretrains the same base in PyTorch with the same recipe and runs the demo on
# both bases (Debian's python3 with torch; docs/DEMO.md). Not part of make test.
demo-torch: $(SHARED) bin/graft
	PYTHONPATH=python /usr/bin/python3 tools/demo_torch_baseline.py

# ---- tests ------------------------------------------------------------------

$(BUILD)/tests/%.o: tests/%.c tests/testutil.h $(HEADERS) | deps-test
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -fvisibility=default $$(pkg-config --cflags check) -c $< -o $@

$(BUILD)/tests/run_tests: $(TEST_OBJS) $(STATIC)
	$(CC) -o $@ $(TEST_OBJS) $(STATIC) $$(pkg-config --libs check) $(LIBS)

# The public header compiles alone as C99 and as C++ with warnings as errors.
check-header: | deps
	@mkdir -p $(BUILD)/tests
	printf '#include "graft.h"\nint main(void){return graft_version_number() > 0 ? 0 : 1;}\n' > $(BUILD)/tests/header_c99.c
	$(CC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c $(BUILD)/tests/header_c99.c -o $(BUILD)/tests/header_c99.o
	printf '#include "graft.h"\nint main(){return graft_version_number() > 0 ? 0 : 1;}\n' > $(BUILD)/tests/header_cxx.cpp
	$(CXX) -std=c++11 -Wall -Wextra -Werror -Iinclude -c $(BUILD)/tests/header_cxx.cpp -o $(BUILD)/tests/header_cxx.o

# Only graft_-prefixed symbols leave the shared library.
check-symbols: $(SHARED)
	@bad=$$(nm -D --defined-only $(SHARED) | awk '$$3 != "" && $$3 !~ /^graft_/ && $$3 !~ /^GRAFT_/ {print $$3}'); \
	if [ -n "$$bad" ]; then echo "non-graft symbols exported:"; echo "$$bad"; exit 1; fi; \
	echo "exported symbols: $$(nm -D --defined-only $(SHARED) | grep -c ' T graft_') graft_ functions, no others"

# Examples link the shared library, as users' programs do.
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

$(BUILD)/examples/%: examples/%.c include/graft.h $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=c99 -Wall -Wextra -Iinclude -o $@ $< -L$(LIBOUT) -lgraft \
	  -Wl,-rpath,$(abspath $(LIBOUT))

examples: $(EXAMPLES)

# The C++ example: RAII wrappers written in the example, -Werror.
CPP_EXAMPLE := $(BUILD)/examples/cpp_raii

$(CPP_EXAMPLE): examples/cpp_raii.cpp include/graft.h $(SHARED)
	@mkdir -p $(@D)
	$(CXX) -std=c++11 -O2 -Wall -Wextra -Werror -Iinclude -o $@ $< -L$(LIBOUT) -lgraft \
	  -Wl,-rpath,$(abspath $(LIBOUT))

run-examples: $(EXAMPLES) $(CPP_EXAMPLE) | deps-test
	@sh tests/run_examples.sh $(EXAMPLES) $(CPP_EXAMPLE)

# The Python package (python/graft, ctypes), with the interpreter on PATH and,
# when present, Debian's /usr/bin/python3 (which may have numpy).
PYTHON ?= python3
SYSTEM_PYTHON ?= /usr/bin/python3

test-python: $(SHARED) | deps-test
	GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(PYTHON) -B python/tests/run.py
	@if [ -x $(SYSTEM_PYTHON) ]; then \
	  echo "GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(SYSTEM_PYTHON) -B python/tests/run.py"; \
	  GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(SYSTEM_PYTHON) -B python/tests/run.py; \
	fi

# The suites under valgrind: any invalid access or leak fails the run.
test-valgrind: $(BUILD)/tests/run_tests | deps-test
	@echo "Running the suites under valgrind (memory errors and leaks)"
	GRAFT_STRICT_MESSAGES=1 CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all \
	  $(BUILD)/tests/run_tests > $(BUILD)/tests/valgrind.log 2>&1 || \
	  { tail -n 40 $(BUILD)/tests/valgrind.log; exit 1; }
	@tail -n 1 $(BUILD)/tests/valgrind.log | sed 's/^/valgrind: /'

# ONNX's own operator tests (Debian's libonnx-testdata): every test whose
# operators graft supports runs; docs/ONNX-SKIPPED.md lists the others.
ONNX_TESTDATA ?= /usr/share/libonnx-testdata/data

$(BUILD)/tests/onnx_conformance: tests/onnx_conformance.c $(HEADERS) $(STATIC) | deps-test
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

test-onnx-conformance: $(BUILD)/tests/onnx_conformance
	$(BUILD)/tests/onnx_conformance -d $(ONNX_TESTDATA)

onnx-skipped: $(BUILD)/tests/onnx_conformance
	$(BUILD)/tests/onnx_conformance -d $(ONNX_TESTDATA) -m docs/ONNX-SKIPPED.md

# Regenerates the whole-network ONNX fixtures with PyTorch (python3-torch, torchvision).
onnx-fixtures:
	/usr/bin/python3 tests/make_onnx_fixtures.py

# The model zoo (docs/ONNX-ZOO.md). zoo-fixtures writes the compact versions
# tests/check_onnx_zoo.c runs in make test; check-zoo runs the full-size
# models (tens of minutes) and rewrites docs/ONNX-ZOO.md. ZOO_ARGS passes
# options to tests/zoo/zoo.py, e.g. ZOO_ARGS="--models resnet50,googlenet".
ZOO_DEB_PACKAGES := python3-torch python3-torchvision python3-onnx python3-numpy python3-pil \
                    python3-sklearn
ZOO_ARGS ?=

zoo-fixtures:
	$(call deb_install,python3-torch python3-torchvision)
	/usr/bin/python3 tests/zoo/make_zoo_fixtures.py

check-zoo: $(SHARED)
	$(call deb_install,$(ZOO_DEB_PACKAGES))
	GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) /usr/bin/python3 -B tests/zoo/zoo.py $(ZOO_ARGS)

# The command-line tool, driven on a small generated image folder.
test-cli: bin/graft | deps-test
	sh tests/cli_test.sh bin/graft examples/demo/fashion-base.graft

# The architecture, measured from the objects and sources: no file uses a
# higher floor, no call or include cycles, no file over 1,500 lines, every
# layer kind in docs/FORMAT.md's and docs/ONNX.md's kind tables
# (tools/check_tree.py, docs/ARCHITECTURE.md).
check-tree: all | deps-test
	python3 tools/check_tree.py --build $(BUILD)

test: all check-header check-symbols check-tree run-examples test-cli test-python test-onnx-conformance \
      test-valgrind $(BUILD)/tests/run_tests
	GRAFT_STRICT_MESSAGES=1 $(BUILD)/tests/run_tests

# Benchmarks (not tests): built against the shared library and run.
# bench/models.c and bench/gemm_table.c are driven by bench/run_bench.sh
# (graft against PyTorch, see docs/PERFORMANCE.md); the others run alone.
# BENCH_RUNS, BENCH_WARMUP, BENCH_THREADS and BENCH_WORKLOADS pass through
# the environment to run_bench.sh.
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
BENCH_ALONE := $(BUILD)/bench/cache_speedup $(BUILD)/bench/folder_stream
BENCH_LIBS := -lopenblas -lpng -lm
BENCH_TCMALLOC := libtcmalloc-minimal4

$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) include/graft.h $(SHARED)
	@mkdir -p $(@D)
	$(CC) -O2 -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Iinclude -o $@ $< \
	  -L$(LIBOUT) -lgraft $(BENCH_LIBS) -Wl,-rpath,$(abspath $(LIBOUT))

# The benchmarks compare with PyTorch in the same run: Debian's python3-torch
# and python3-torchvision (the models' definitions), and tcmalloc, with which
# PyTorch runs best.
bench: $(BENCHES)
	$(call deb_install,$(BENCH_TCMALLOC) python3-torch python3-torchvision)
	@for b in $(BENCH_ALONE); do echo "== $$b"; $$b || exit 1; done
	@echo "== graft against PyTorch (bench/run_bench.sh)"
	sh bench/run_bench.sh $(BUILD)/bench

refs:
	$(call deb_install,python3-torch python3-torchvision)
	/usr/bin/python3 tests/make_torch_refs.py > tests/data/torch_refs.txt.new
	mv tests/data/torch_refs.txt.new tests/data/torch_refs.txt
	/usr/bin/python3 tests/make_torch_loss_refs.py > tests/data/torch_loss_refs.txt.new
	mv tests/data/torch_loss_refs.txt.new tests/data/torch_loss_refs.txt
	/usr/bin/python3 tests/zoo/make_zoo_fixtures.py

# ---- install ----------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/graft.h $(DESTDIR)$(INCLUDEDIR)/graft.h
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libgraft.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libgraft.so
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	$(CC) -o $(DESTDIR)$(PREFIX)/bin/graft $(CLI_OBJS) -L$(LIBOUT) -lgraft -lpng -lm \
	  -Wl,-rpath,$(LIBDIR)
	install -m 644 docs/graft.1 $(DESTDIR)$(PREFIX)/share/man/man1/graft.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' graft.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/graft.pc

clean:
	rm -rf $(BUILD) $(LIBOUT) bin

# ============================================================================
# Other compilers. This block only adds variables and targets.
#
#   make test-clang     the library, the tool's objects and the suites built
#                       with clang (-Werror, in $(CLANG_BUILD)), the suites run
#   make check-aarch64  every source of the library and of the tool compiled
#                       (not linked) for aarch64 with Debian's cross GCC, with
#                       -Werror, into $(AARCH64_BUILD)
# Both install their compiler when missing, as deps does.
# ============================================================================

CLANG_CC ?= clang
CLANG_CFLAGS ?= $(OPT) -g -Werror
CLANG_BUILD ?= $(BUILD)/clang
CLANG_DEB_PACKAGES := clang

AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_CFLAGS ?= $(OPT) -Werror
AARCH64_BUILD ?= $(BUILD)/aarch64
AARCH64_DEB_PACKAGES := gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# The cross compiler searches only its own system headers: the libraries'
# headers (png.h, jpeglib.h, zlib.h, and cblas.h and jconfig.h, which sit in
# the host's multiarch folder) come from the host, searched after those.
HOST_MULTIARCH = $(shell gcc -print-multiarch 2>/dev/null)
AARCH64_INCLUDES = -idirafter /usr/include $(if $(HOST_MULTIARCH),-idirafter /usr/include/$(HOST_MULTIARCH))

AARCH64_OBJS := $(patsubst src/%.c,$(AARCH64_BUILD)/obj/%.o,$(SRCS)) \
                $(patsubst src/cli/%.c,$(AARCH64_BUILD)/cli/%.o,$(CLI_SRCS))

.PHONY: deps-clang deps-aarch64 test-clang check-aarch64

# Each installs after deps, never alongside it (one apt-get at a time under -j).
deps-clang: | deps
	$(call deb_install,$(CLANG_DEB_PACKAGES))

deps-aarch64: | deps
	$(call deb_install,$(AARCH64_DEB_PACKAGES))

test-clang: | deps-test
	$(call deb_install,$(CLANG_DEB_PACKAGES))
	$(MAKE) BUILD=$(CLANG_BUILD) LIBOUT=$(CLANG_BUILD)/lib CC="$(CLANG_CC)" CFLAGS="$(CLANG_CFLAGS)" \
	  $(CLANG_BUILD)/lib/libgraft.so.$(VERSION) $(CLANG_BUILD)/tests/run_tests \
	  $(patsubst src/cli/%.c,$(CLANG_BUILD)/cli/%.o,$(CLI_SRCS))
	GRAFT_STRICT_MESSAGES=1 $(CLANG_BUILD)/tests/run_tests

$(AARCH64_BUILD)/obj/%.o: src/%.c $(HEADERS) | deps-aarch64
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_CFLAGS) $(GRAFT_CFLAGS) $(AARCH64_INCLUDES) -c $< -o $@

$(AARCH64_BUILD)/cli/%.o: src/cli/%.c $(wildcard src/cli/*.h) include/graft.h | deps-aarch64
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
	  -Iinclude $(AARCH64_INCLUDES) -c $< -o $@

check-aarch64: $(AARCH64_OBJS)
	@echo "check-aarch64: $(words $(AARCH64_OBJS)) sources compile for aarch64 ($(AARCH64_CC))"

# ============================================================================
# Reliability and the ABI guard. This block only adds variables and
# targets, and (its last line) prerequisites to `test`; see docs/ROBUSTNESS.md
# and docs/ABI.md.
#
#   make test-asan    suites, examples and the programs below built with
#                     AddressSanitizer, UndefinedBehaviorSanitizer and
#                     LeakSanitizer (in $(ASAN_BUILD)) and run
#   make test-tsan    tests/threads.c and graft under ThreadSanitizer
#   make fuzz         every fuzz target under libFuzzer for FUZZ_SECONDS each
#   make fuzz-corpus  regenerate the seed corpora in tests/fuzz/corpus/
#   make abi-check    abidiff against abi/libgraft.abi and the exported
#                     symbols against abi/libgraft.symbols
#   make abi-update   regenerate both after a deliberate change
# `make test` also replays every corpus and regression file, runs the
# crash-safe save, threads and bad-input programs, and compares the exported
# symbols with abi/libgraft.symbols.
# ============================================================================

# Fuzz targets: tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME/,
# crash regressions in tests/fuzz/regressions/NAME/, optional dictionary
# tests/fuzz/NAME.dict. One line per target.
FUZZ_TARGETS := model
FUZZ_TARGETS += checkpoint
FUZZ_TARGETS += image
FUZZ_TARGETS += idx
FUZZ_TARGETS += csv
FUZZ_TARGETS += onnx

FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_CFLAGS ?= -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
SAN_CC ?= gcc
# The sanitized builds compile only the portable copies of the vector
# kernels (GRAFT_NO_CLONES, see src/core/vec.h): the tests then run them as well
# as the copy the other builds pick for this CPU, and no load-time copy
# selection (ifunc) runs before the sanitizer's runtime is set up.
ASAN_FLAGS ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
              -DGRAFT_NO_CLONES
TSAN_FLAGS ?= -fsanitize=thread -DGRAFT_NO_CLONES
ASAN_BUILD ?= $(BUILD)/asan
TSAN_BUILD ?= $(BUILD)/tsan
FUZZ_BUILD ?= $(BUILD)/fuzz
ABI_BUILD ?= $(BUILD)/abi
# SIGKILLs of tests/crash_safe_save in `make test` (each a few tens of ms).
CRASH_KILLS ?= 200
# 1: abi-check fails on abidiff's "ABI change" (4) too, not only on 8.
ABI_STRICT ?= 0
# The baseline abi-check compares with (a release's, e.g. abi/libgraft-1.0.0.abi).
ABI_BASELINE ?= abi/libgraft.abi

ASAN_ENV := ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# OpenBLAS's own worker threads are not instrumented: keep it to the calling thread.
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
            OPENBLAS_NUM_THREADS=1

FUZZ_SRC := tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h
FUZZ_REPLAYS := $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_TARGETS))
FUZZERS := $(patsubst %,$(BUILD)/fuzzer/fuzz_%,$(FUZZ_TARGETS))
REL_PROGRAMS := $(BUILD)/tests/crash_safe_save $(BUILD)/tests/threads $(BUILD)/tests/bad_inputs \
                $(FUZZ_REPLAYS)
ABI_SHARED := $(ABI_BUILD)/lib/libgraft.so.$(VERSION)

# Debian packages these targets need besides graft's (deps): clang and its
# runtime libraries for libFuzzer; abigail-tools for abidw and abidiff. The
# sanitizer runtimes of gcc come with gcc. Installed when missing, as deps does.
FUZZ_DEB_PACKAGES := clang libclang-rt-dev
ABI_DEB_PACKAGES := abigail-tools


deps-fuzz: | deps
	$(call deb_install,$(FUZZ_DEB_PACKAGES))

deps-abi:
	$(call deb_install,$(ABI_DEB_PACKAGES))

.PHONY: deps-fuzz deps-abi test-asan test-tsan test-sanitized test-threads-sanitized fuzz fuzz-corpus \
        fuzz-binaries test-fuzz-replay test-crash-safe-save test-threads test-bad-inputs \
        check-abi-symbols \
        abi-check abi-update abi-build

# Plain builds of the fuzz targets: replay files and folders (tests/fuzz/replay.c).
$(BUILD)/fuzz-replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_SRC) $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -DFUZZ_TARGET_NAME='"$*"' -o $@ tests/fuzz/fuzz_$*.c \
	  tests/fuzz/replay.c tests/fuzz/fuzz_common.c $(STATIC) $(LIBS)

# libFuzzer builds (made by `make fuzz` in $(FUZZ_BUILD) with FUZZ_CC).
$(BUILD)/fuzzer/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC) $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(GRAFT_CFLAGS) -o $@ tests/fuzz/fuzz_$*.c \
	  tests/fuzz/fuzz_common.c $(STATIC) $(LIBS)

fuzz-binaries: $(FUZZERS)

$(BUILD)/tests/crash_safe_save: tests/crash_safe_save.c $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/tests/threads: tests/threads.c $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/tests/bad_inputs: tests/bad_inputs.c $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/tests/make_corpus: tests/fuzz/make_corpus.c $(HEADERS) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

test-fuzz-replay: $(FUZZ_REPLAYS)
	@sh tests/fuzz/replay_all.sh $(BUILD)/fuzz-replay $(FUZZ_TARGETS)

test-crash-safe-save: $(BUILD)/tests/crash_safe_save
	$(BUILD)/tests/crash_safe_save $(CRASH_KILLS)

test-threads: $(BUILD)/tests/threads
	$(BUILD)/tests/threads

test-bad-inputs: $(BUILD)/tests/bad_inputs
	$(BUILD)/tests/bad_inputs

# Seeds of the "image" target: small PNG and JPEG fixtures of the image suite.
FUZZ_IMAGE_SEEDS := tiny_rgb.png grey1.png palette2_interlaced_trns.png grey8_trns.png \
                    grey16.png grey_alpha8.png rgb8_interlaced.png rgba16.png grey.jpg \
                    small.jpg progressive.jpg cmyk.jpg

# Regenerates the seed corpora: make_corpus writes model, checkpoint, idx,
# csv and onnx; the image seeds are copied from tests/data/images.
fuzz-corpus: $(BUILD)/tests/make_corpus
	rm -rf $(BUILD)/corpus-new
	$(BUILD)/tests/make_corpus $(BUILD)/corpus-new
	for t in model checkpoint idx csv onnx; do rm -rf tests/fuzz/corpus/$$t; \
	  mkdir -p tests/fuzz/corpus/$$t; cp $(BUILD)/corpus-new/$$t/* tests/fuzz/corpus/$$t/; done
	rm -rf tests/fuzz/corpus/image
	mkdir -p tests/fuzz/corpus/image
	cp $(addprefix tests/data/images/,$(FUZZ_IMAGE_SEEDS)) tests/fuzz/corpus/image/

fuzz: | deps deps-fuzz
	$(MAKE) BUILD=$(FUZZ_BUILD) LIBOUT=$(FUZZ_BUILD)/lib CC="$(FUZZ_CC)" CFLAGS="$(FUZZ_CFLAGS)" \
	  fuzz-binaries
	ASAN_OPTIONS=allocator_may_return_null=1 sh tests/fuzz/run_fuzz.sh $(FUZZ_BUILD)/fuzzer \
	  $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Runs in whatever BUILD it is given; test-asan gives it a sanitizer build.
# Every step runs; the target fails at the end if any step failed.
test-sanitized: $(BUILD)/tests/run_tests $(EXAMPLES) $(REL_PROGRAMS)
	@failed=""; export $(ASAN_ENV); \
	sh tests/run_examples.sh $(EXAMPLES) || failed="$$failed examples"; \
	$(BUILD)/tests/run_tests || failed="$$failed suites"; \
	sh tests/fuzz/replay_all.sh $(BUILD)/fuzz-replay $(FUZZ_TARGETS) || failed="$$failed fuzz-replay"; \
	$(BUILD)/tests/crash_safe_save 40 || failed="$$failed crash_safe_save"; \
	$(BUILD)/tests/threads || failed="$$failed threads"; \
	$(BUILD)/tests/bad_inputs || failed="$$failed bad_inputs"; \
	if [ -n "$$failed" ]; then echo "sanitized run: FAILED:$$failed"; exit 1; fi; \
	echo "sanitized run: all passed"

test-asan: | deps-test
	$(MAKE) BUILD=$(ASAN_BUILD) LIBOUT=$(ASAN_BUILD)/lib CC="$(SAN_CC) $(ASAN_FLAGS)" OPT=-O1 \
	  test-sanitized

test-threads-sanitized: $(BUILD)/tests/threads
	$(TSAN_ENV) $(BUILD)/tests/threads

test-tsan: | deps-test
	$(MAKE) BUILD=$(TSAN_BUILD) LIBOUT=$(TSAN_BUILD)/lib CC="$(SAN_CC) $(TSAN_FLAGS)" OPT=-O1 \
	  test-threads-sanitized

# ---- ABI guard ----
# The release build (-O2 -g) in $(ABI_BUILD); its ABI as abidw sees it
# through the public header, without paths or line numbers.
abi-build: | deps deps-abi
	$(MAKE) BUILD=$(ABI_BUILD) LIBOUT=$(ABI_BUILD)/lib CFLAGS="-O2 -g" $(ABI_SHARED)
	abidw --headers-dir include --drop-private-types --no-corpus-path --no-comp-dir-path --no-show-locs \
	  --out-file $(ABI_BUILD)/libgraft.abi $(ABI_SHARED)
	nm -D --defined-only $(ABI_SHARED) | awk '{print $$2, $$3}' | LC_ALL=C sort \
	  > $(ABI_BUILD)/libgraft.symbols

# abidiff's exit status is a bit set: 1 error, 2 usage, 4 ABI change, 8
# incompatible change. 8 (and 1, 2) fail; 4 warns, or fails with ABI_STRICT=1.
abi-check: abi-build
	@abidiff --no-show-locs $(ABI_BASELINE) $(ABI_BUILD)/libgraft.abi > $(ABI_BUILD)/abidiff.txt; \
	rc=$$?; cat $(ABI_BUILD)/abidiff.txt; \
	if [ $$((rc & 8)) -ne 0 ] || [ $$((rc & 3)) -ne 0 ]; then \
	  echo "abi-check: FAILED: abidiff exit status $$rc (incompatible ABI change or error)"; exit 1; \
	elif [ $$((rc & 4)) -ne 0 ] && [ "$(ABI_STRICT)" = 1 ]; then \
	  echo "abi-check: FAILED: abidiff reports an ABI change (exit status 4) and ABI_STRICT=1"; exit 1; \
	elif [ $$((rc & 4)) -ne 0 ]; then \
	  echo "abi-check: WARNING: abidiff reports an ABI change (exit status 4): additions are allowed, a"; \
	  echo "           changed type or function is not (docs/ABI.md); review it, then 'make abi-update'"; \
	else echo "abi-check: no ABI change against $(ABI_BASELINE)"; fi
	@grep -v '^#' abi/libgraft.symbols | diff -u - $(ABI_BUILD)/libgraft.symbols \
	  > $(ABI_BUILD)/symbols.diff || { cat $(ABI_BUILD)/symbols.diff; \
	  echo "abi-check: FAILED: exported symbols differ from abi/libgraft.symbols (- committed, + built);"; \
	  echo "           if the change is deliberate and allowed by docs/ABI.md, run 'make abi-update'"; exit 1; }
	@echo "abi-check: $$(grep -c '^T ' $(ABI_BUILD)/libgraft.symbols) exported functions match abi/libgraft.symbols"

abi-update: abi-build
	cp $(ABI_BUILD)/libgraft.abi abi/libgraft.abi
	{ echo "# Exported symbols of libgraft.so.$(VERSION_MAJOR) (nm -D --defined-only: type, name@@node)."; \
	  echo "# Compared by 'make test' and 'make abi-check'; regenerate with 'make abi-update' (docs/ABI.md)."; \
	  cat $(ABI_BUILD)/libgraft.symbols; } > abi/libgraft.symbols
	@echo "abi-update: wrote abi/libgraft.abi and abi/libgraft.symbols"

# The symbol list of this build's shared library against the committed one.
check-abi-symbols: $(SHARED)
	@grep -v '^#' abi/libgraft.symbols > $(BUILD)/libgraft.symbols.committed; \
	nm -D --defined-only $(SHARED) | awk '{print $$2, $$3}' | LC_ALL=C sort \
	  > $(BUILD)/libgraft.symbols.built; \
	if diff -u $(BUILD)/libgraft.symbols.committed $(BUILD)/libgraft.symbols.built; then \
	  echo "exported symbols: $$(grep -c '^T ' $(BUILD)/libgraft.symbols.built) functions, as in abi/libgraft.symbols"; \
	else echo "exported symbols differ from abi/libgraft.symbols (- committed, + built); if deliberate"; \
	  echo "and allowed by docs/ABI.md, run 'make abi-update'"; exit 1; fi

test: test-fuzz-replay test-crash-safe-save test-threads test-bad-inputs check-abi-symbols
