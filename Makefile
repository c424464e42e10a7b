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
#   make refs       regenerate tests/data/torch_refs.txt with PyTorch (python3-torch)
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

# Debian packages. Building: OpenBLAS, libpng, libjpeg-turbo, zlib (gzipped
# IDX datasets; libpng needs it anyway). Testing: Check; valgrind runs the
# suites once more looking for memory errors and leaks; netpbm and
# libjpeg-turbo-progs decode the image fixtures independently (pngtopnm,
# djpeg); libonnx-testdata is ONNX's own operator test suite.
DEB_PACKAGES := libopenblas-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev pkg-config \
                check valgrind netpbm libjpeg-turbo-progs libonnx-testdata

# Output folders (overridable, e.g. for parallel builds of one tree).
BUILD ?= build
LIBOUT ?= lib

SONAME := libgraft.so.$(VERSION_MAJOR)
SHARED := $(LIBOUT)/libgraft.so.$(VERSION)
STATIC := $(LIBOUT)/libgraft.a

SRCS := $(wildcard src/*.c)
HEADERS := $(wildcard src/*.h) include/graft.h
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))

TEST_SRCS := $(wildcard tests/check_*.c) tests/testutil.c tests/main.c
TEST_OBJS := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(TEST_SRCS))

.PHONY: all deps test install clean refs demo pretrain cli check-header check-symbols examples run-examples test-valgrind test-cli test-python bench \
        test-onnx-conformance onnx-skipped onnx-fixtures

all: $(SHARED) $(STATIC) bin/graft

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
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
demo: bin/graft
	./bin/graft demo

# Remakes the shipped base model from Fashion-MNIST (Debian's dataset-fashion-mnist).
pretrain: bin/graft
	@dpkg-query -W -f='$${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "ok installed" || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq dataset-fashion-mnist; \
	    else echo "Run: sudo apt-get install dataset-fashion-mnist"; exit 1; fi; }
	./bin/graft demo --pretrain

# ---- tests ------------------------------------------------------------------

$(BUILD)/tests/%.o: tests/%.c tests/testutil.h $(HEADERS) | deps
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

run-examples: $(EXAMPLES) $(CPP_EXAMPLE)
	@sh tests/run_examples.sh $(EXAMPLES) $(CPP_EXAMPLE)

# The Python package (python/graft, ctypes), with the interpreter on PATH and,
# when present, Debian's /usr/bin/python3 (which may have numpy).
PYTHON ?= python3
SYSTEM_PYTHON ?= /usr/bin/python3

test-python: $(SHARED)
	GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(PYTHON) -B python/tests/run.py
	@if [ -x $(SYSTEM_PYTHON) ]; then \
	  echo "GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(SYSTEM_PYTHON) -B python/tests/run.py"; \
	  GRAFT_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) $(SYSTEM_PYTHON) -B python/tests/run.py; \
	fi

# The suites under valgrind: any invalid access or leak fails the run.
test-valgrind: $(BUILD)/tests/run_tests
	@echo "Running the suites under valgrind (memory errors and leaks)"
	CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all \
	  $(BUILD)/tests/run_tests > $(BUILD)/tests/valgrind.log 2>&1 || \
	  { tail -n 40 $(BUILD)/tests/valgrind.log; exit 1; }
	@tail -n 1 $(BUILD)/tests/valgrind.log | sed 's/^/valgrind: /'

# ONNX's own operator tests (Debian's libonnx-testdata): every test whose
# operators graft supports runs; docs/ONNX-SKIPPED.md lists the others.
ONNX_TESTDATA ?= /usr/share/libonnx-testdata/data

$(BUILD)/tests/onnx_conformance: tests/onnx_conformance.c $(HEADERS) $(STATIC) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(GRAFT_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

test-onnx-conformance: $(BUILD)/tests/onnx_conformance
	$(BUILD)/tests/onnx_conformance -d $(ONNX_TESTDATA)

onnx-skipped: $(BUILD)/tests/onnx_conformance
	$(BUILD)/tests/onnx_conformance -d $(ONNX_TESTDATA) -m docs/ONNX-SKIPPED.md

# Regenerates the whole-network ONNX fixtures with PyTorch (python3-torch, torchvision).
onnx-fixtures:
	/usr/bin/python3 tests/make_onnx_fixtures.py

# The command-line tool, driven on a small generated image folder.
test-cli: bin/graft
	sh tests/cli_test.sh bin/graft examples/demo/fashion-base.graft

test: all check-header check-symbols run-examples test-cli test-python test-onnx-conformance \
      test-valgrind $(BUILD)/tests/run_tests
	$(BUILD)/tests/run_tests

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

bench: $(BENCHES)
	@dpkg-query -W -f='$${Status}' $(BENCH_TCMALLOC) 2>/dev/null | grep -q "ok installed" || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq $(BENCH_TCMALLOC); \
	    else echo "note: PyTorch runs best with tcmalloc: sudo apt-get install $(BENCH_TCMALLOC)"; fi; }
	@for b in $(BENCH_ALONE); do echo "== $$b"; $$b || exit 1; done
	@echo "== graft against PyTorch (bench/run_bench.sh)"
	sh bench/run_bench.sh $(BUILD)/bench

refs:
	/usr/bin/python3 tests/make_torch_refs.py > tests/data/torch_refs.txt

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
