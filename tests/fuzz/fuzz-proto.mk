# tests/fuzz/fuzz-proto.mk - libFuzzer targets for the protocol side: the
# POP3 command parser and line reader, the SASL decoders and the SCRAM
# server, the IPC framing, and the mail process's command loop over a real
# Maildir.  Included from the top Makefile (which provides CORE_OBJS,
# ALL_CPPFLAGS, SSL_CFLAGS, SSL_LIBS, CRYPT_LIBS); needs clang (Debian:
# clang, libclang-rt-14-dev).  Same layout as fuzz.mk, but self-contained.
#   make fuzz-proto                        each target for FUZZP_SECONDS (300)
#   make fuzz-proto FUZZP_SECONDS=3600     longer
#   make fuzz-proto-quick                  each target for 10 s
#   make fuzz-proto-clean
# Seed corpora in tests/fuzz/corpus/<name>/ are read, never written: new
# inputs go to build-fuzz-proto/work/<name>/, crashes to
# build-fuzz-proto/artifacts/.

FUZZ_CC             ?= clang
FUZZP_SECONDS       ?= 300
FUZZP_QUICK_SECONDS ?= 10
FUZZP_EXTRA         ?=
FUZZP_NAMES   = pop3cmd sasl ipc session
FUZZP_BINS    = $(FUZZP_NAMES:%=tests/fuzz/fuzz_%)
FUZZP_DIR     = build-fuzz-proto
FUZZP_CFLAGS  = -g -O1 -fno-omit-frame-pointer -std=c11 -Wall -Wextra -Werror \
                -Wshadow -Wno-unused-parameter \
                -fsanitize=address,undefined -fno-sanitize-recover=all \
                $(SSL_CFLAGS) $(FUZZP_EXTRA)
FUZZP_OPTS    = -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# Objects each target links (besides the core ones).
FUZZP_SRC_pop3cmd = pop3cmd netio
FUZZP_SRC_sasl    = sasl scram
FUZZP_SRC_ipc     =
FUZZP_SRC_session = mailproc mailbox sleep mailstate maildir maildir_index maildir_dups maildir_sweep maildirsize msgstream \
                    uidl_map netio pop3cmd serve capa uidindex
# The session target runs mail_main() in process: its _exit(), the logging
# calls and the allocations are redirected into the harness (see
# fuzz_session.c), so a session "exits" back into the fuzzer.
FUZZP_LD_session  = $(patsubst %,-Wl$(comma)--wrap=%,_exit plog pfatal xmalloc \
                    xcalloc xrealloc xstrdup xstrndup free)
comma := ,

# Longest input per target.
FUZZP_MAXLEN_pop3cmd = 16384
FUZZP_MAXLEN_sasl    = 2048
FUZZP_MAXLEN_ipc     = 20000
FUZZP_MAXLEN_session = 8192

FUZZP_CORE = $(CORE_OBJS:src/%.o=$(FUZZP_DIR)/obj/%.o)

$(FUZZP_DIR)/obj/%.o: src/%.c $(wildcard include/*.h)
	@mkdir -p $(FUZZP_DIR)/obj
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZP_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# One link rule per target: its harness, its daemon objects, the core ones.
define fuzzp_bin
tests/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(FUZZP_CORE) \
    $(FUZZP_SRC_$(1):%=$(FUZZP_DIR)/obj/%.o)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZP_CFLAGS) -fsanitize=fuzzer -o $$@ $$< \
	    $(FUZZP_SRC_$(1):%=$(FUZZP_DIR)/obj/%.o) $(FUZZP_CORE) $(FUZZP_LD_$(1)) \
	    $(SSL_LIBS) $(CRYPT_LIBS)
endef
$(foreach t,$(FUZZP_NAMES),$(eval $(call fuzzp_bin,$(t))))

# $(call fuzzp_run,name,seconds)
define fuzzp_run
@mkdir -p $(FUZZP_DIR)/work/$(1) $(FUZZP_DIR)/artifacts
@echo "== fuzz_$(1): $(2) s"
tests/fuzz/fuzz_$(1) $(FUZZP_OPTS) -max_total_time=$(2) \
    -max_len=$(FUZZP_MAXLEN_$(1)) -artifact_prefix=$(FUZZP_DIR)/artifacts/$(1)- \
    $(FUZZP_DIR)/work/$(1) tests/fuzz/corpus/$(1)

endef

fuzz-proto-build: $(FUZZP_BINS)

fuzz-proto: $(FUZZP_BINS)
	$(foreach t,$(FUZZP_NAMES),$(call fuzzp_run,$(t),$(FUZZP_SECONDS)))

fuzz-proto-quick: $(FUZZP_BINS)
	$(foreach t,$(FUZZP_NAMES),$(call fuzzp_run,$(t),$(FUZZP_QUICK_SECONDS)))

fuzz-proto-clean:
	rm -rf $(FUZZP_DIR)
	rm -f $(FUZZP_BINS)

.PHONY: fuzz-proto fuzz-proto-quick fuzz-proto-build fuzz-proto-clean
