# tests/fuzz/fuzz.mk - libFuzzer targets for the pure modules.
# Included from the top Makefile; needs clang (Debian: clang,
# libclang-rt-14-dev).
#   make fuzz                      each target for FUZZ_SECONDS (300)
#   make fuzz FUZZ_SECONDS=3600    longer
#   make fuzz-quick                each target for 10 s (part of make check)
#   make fuzz-clean                objects, binaries, work corpora
# The seed corpora in tests/fuzz/corpus/<name>/ are read, never written: new
# inputs go to tests/fuzz/work/<name>/, crashes to tests/fuzz/artifacts/.
# Add -DFUZZ_STRICT to FUZZ_EXTRA to stop skipping known, reported bugs.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_QUICK_SECONDS ?= 10
FUZZ_EXTRA         ?=
FUZZ_PURE_NAMES  := parse msgencode mdname passwd_line config rcpt proxy uidl_import
FUZZ_PURE_BINS    = $(FUZZ_PURE_NAMES:%=tests/fuzz/fuzz_%)
# The fuzz build has its own objects: other compiler, other flags.
FUZZ_PURE_OBJDIR  = tests/fuzz/obj
FUZZ_PURE_OBJS    = $(CORE_OBJS:src/%.o=$(FUZZ_PURE_OBJDIR)/%.o)
FUZZ_PURE_CFLAGS  = -g -O1 -fno-omit-frame-pointer -std=c11 -Wall -Wextra -Werror \
               -Wshadow -Wno-unused-parameter \
               -fsanitize=address,undefined -fno-sanitize-recover=all \
               $(SSL_CFLAGS) $(FUZZ_EXTRA)
FUZZ_PURE_OPTS    = -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# Longest input per target.
FUZZ_MAXLEN_parse       = 128
FUZZ_MAXLEN_msgencode   = 4096
FUZZ_MAXLEN_mdname      = 512
FUZZ_MAXLEN_passwd_line = 1024
FUZZ_MAXLEN_config      = 4096
FUZZ_MAXLEN_rcpt        = 4096
FUZZ_MAXLEN_proxy       = 2200
FUZZ_MAXLEN_uidl_import = 4096

$(FUZZ_PURE_OBJDIR)/%.o: src/%.c $(wildcard include/*.h)
	@mkdir -p $(FUZZ_PURE_OBJDIR)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_PURE_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_PURE_BINS): tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_PURE_OBJS) tests/unit/msgref.h
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_PURE_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_PURE_OBJS) $(SSL_LIBS)

# $(call fuzz_pure_run,name,seconds)
define fuzz_pure_run
@mkdir -p tests/fuzz/work/$(1) tests/fuzz/artifacts
@echo "== fuzz_$(1): $(2) s"
tests/fuzz/fuzz_$(1) $(FUZZ_PURE_OPTS) -max_total_time=$(2) \
    -max_len=$(FUZZ_MAXLEN_$(1)) -artifact_prefix=tests/fuzz/artifacts/$(1)- \
    tests/fuzz/work/$(1) tests/fuzz/corpus/$(1)

endef

fuzz-build: $(FUZZ_PURE_BINS)

fuzz: $(FUZZ_PURE_BINS)
	$(foreach t,$(FUZZ_PURE_NAMES),$(call fuzz_pure_run,$(t),$(FUZZ_SECONDS)))

fuzz-quick: $(FUZZ_PURE_BINS)
	$(foreach t,$(FUZZ_PURE_NAMES),$(call fuzz_pure_run,$(t),$(FUZZ_QUICK_SECONDS)))

fuzz-clean:
	rm -rf $(FUZZ_PURE_OBJDIR) tests/fuzz/work
	rm -f $(FUZZ_PURE_BINS)

clean: fuzz-clean

.PHONY: fuzz fuzz-quick fuzz-build fuzz-clean
