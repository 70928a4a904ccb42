# test/fuzz/local.mk -- fuzzing (issue 14).
#
# make check replays the regression corpora (test/fuzz/regress/<target>/,
# one file per crasher ever found) through each target's
# LLVMFuzzerTestOneInput with a plain main (replay.c): no fuzzing engine,
# any compiler.
#
# make fuzz builds the targets with clang, libFuzzer, ASan and UBSan (the
# library instrumented too), generates seed corpora from real heaps
# (gen_seeds) and runs each target for FUZZ_SECONDS.  A crasher lands in
# fuzz/<target>/artifacts/: once fixed, copy it to test/fuzz/regress/<target>/.
FUZZ_REPLAYS = test/fuzz/replay_image test/fuzz/replay_ops \
	test/fuzz/replay_snapshot
check_PROGRAMS += $(FUZZ_REPLAYS)
TESTS += $(FUZZ_REPLAYS)
EXTRA_DIST += test/fuzz/regress test/fuzz/gen_seeds.c test/fuzz/image_lib.h
FUZZ_REPLAY_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)

test_fuzz_replay_image_SOURCES = test/fuzz/replay.c test/fuzz/fuzz_image.c \
	test/fuzz/image_lib.h
test_fuzz_replay_image_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-DREPLAY_DIR='"$(srcdir)/test/fuzz/regress/image"'
test_fuzz_replay_image_LDADD = libphmalloc.la

test_fuzz_replay_ops_SOURCES = test/fuzz/replay.c test/fuzz/fuzz_ops.c
test_fuzz_replay_ops_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-DREPLAY_DIR='"$(srcdir)/test/fuzz/regress/ops"'
test_fuzz_replay_ops_LDADD = libphmalloc.la

test_fuzz_replay_snapshot_SOURCES = test/fuzz/replay.c \
	test/fuzz/fuzz_snapshot.c tools/snapshot.c tools/snapshot.h
test_fuzz_replay_snapshot_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) -I$(srcdir)/tools \
	-DREPLAY_DIR='"$(srcdir)/test/fuzz/regress/snapshot"'
test_fuzz_replay_snapshot_LDADD = libphinternal.la

# ---- make fuzz ---------------------------------------------------------------
FUZZ_SECONDS = 60
FUZZ_CC = clang
FUZZ_DIR = fuzz
FUZZ_FLAGS = -std=gnu11 -g -O1 -pthread \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	$(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX) -I$(top_srcdir)/tools
FUZZ_TARGETS = image ops snapshot

fuzz: $(PH_SOURCES) test/fuzz/fuzz_image.c test/fuzz/fuzz_ops.c \
		test/fuzz/fuzz_snapshot.c test/fuzz/gen_seeds.c include/phmalloc.h
	@mkdir -p $(FUZZ_DIR)/lib
	@set -e; objs=; for f in $(PH_SOURCES) tools/snapshot.c; do \
	  case $$f in *.c) o=$(FUZZ_DIR)/lib/`basename $$f .c`.o; \
	    $(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	      -c $(top_srcdir)/$$f -o $$o; objs="$$objs $$o";; esac; done; \
	  rm -f $(FUZZ_DIR)/libph.a; ar rcs $(FUZZ_DIR)/libph.a $$objs
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $(FUZZ_DIR)/gen_seeds \
	  $(top_srcdir)/test/fuzz/gen_seeds.c $(FUZZ_DIR)/libph.a -lrt
	@for t in $(FUZZ_TARGETS); do mkdir -p $(FUZZ_DIR)/$$t/corpus \
	  $(FUZZ_DIR)/$$t/artifacts $(FUZZ_DIR)/seeds/$$t; done
	ASAN_OPTIONS=detect_leaks=0 $(FUZZ_DIR)/gen_seeds $(FUZZ_DIR)/seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $(FUZZ_DIR)/fuzz_$$t \
	    $(top_srcdir)/test/fuzz/fuzz_$$t.c $(FUZZ_DIR)/libph.a -lrt; done
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  reg=$(top_srcdir)/test/fuzz/regress/$$t; \
	  test -d $$reg || reg=; \
	  ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 \
	  $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=4096 -max_len=600000 \
	    -artifact_prefix=$(FUZZ_DIR)/$$t/artifacts/ \
	    $(FUZZ_DIR)/$$t/corpus $(FUZZ_DIR)/seeds/$$t $$reg \
	    2>$(FUZZ_DIR)/$$t/log || \
	    { tail -40 $(FUZZ_DIR)/$$t/log; exit 1; }; \
	  grep -E '^(Done|#[0-9]+ *DONE)' $(FUZZ_DIR)/$$t/log | tail -1; done
.PHONY: fuzz
