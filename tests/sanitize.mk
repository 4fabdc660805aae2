# tests/sanitize.mk - sanitizer, valgrind and static-analysis passes.
# Included from the top Makefile (which provides DAEMON_OBJS, CORE_OBJS, LIB_OBJS,
# ALL_CPPFLAGS, SSL_CFLAGS, SSL_LIBS, CRYPT_LIBS).  Run as root (the
# integration suite and the valgrind session start the daemon).
#
#   make asan      build build-asan/postern with AddressSanitizer and
#                  UndefinedBehaviorSanitizer, run the cmocka unit tests on
#                  sanitizer-built core sources, then the whole integration
#                  suite against build-asan/postern.  Fails on any test
#                  failure and on any sanitizer report (report files in
#                  build-asan/logs/, or a report in a daemon log).
#   make asan-unit only the unit tests of that pass.
#   make valgrind  one full session (USER/PASS, LIST, UIDL, RETR, TOP, DELE,
#                  QUIT) in inetd mode and one standalone, every process
#                  under memcheck; fails on any error or definite leak.
#   make static    cppcheck and clang-tidy over src/*.c, zero findings.
#
# Debian packages: clang, libclang-rt-14-dev, valgrind, cppcheck, clang-tidy.

SAN_CC     ?= clang
SAN_DIR     = build-asan
SAN_FLAGS   = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
SAN_WARN    = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
SAN_SRCS    = $(DAEMON_OBJS:.o=.c) $(LIB_OBJS:.o=.c)
SAN_CORE    = $(CORE_OBJS:.o=.c)
# Not test_sandbox: the seccomp filter does not allow the sanitizer
# runtime's calls (the daemon runs with seccomp = no here too).
SAN_UNIT    = $(filter-out $(SAN_DIR)/test_sandbox, \
              $(patsubst tests/unit/test_%.c,$(SAN_DIR)/test_%,$(wildcard tests/unit/test_*.c)))
SAN_LOGS    = $(abspath $(SAN_DIR))/logs
# Leaks are valgrind's job (processes end in _exit by design); every other
# report is fatal.  Report files go to $(SAN_LOGS); a process that cannot
# reach that directory (the chrooted pre-auth process) reports on stderr,
# which is the daemon's log: the integration fixtures copy those logs to
# $(SAN_LOGS)/daemon for the scan below.
SAN_ENV     = ASAN_OPTIONS=detect_leaks=0:log_path=$(SAN_LOGS)/asan \
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan
# Config lines every integration test server gets (see conftest.py).
SAN_TEST_CONF = preauth_memory = 0; seccomp = no
PYTEST     ?= /usr/bin/python3 -m pytest

$(SAN_DIR)/postern: $(SAN_SRCS) $(wildcard include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ \
	    $(SAN_SRCS) $(SSL_LIBS) $(CRYPT_LIBS) -lseccomp -lpam

$(SAN_DIR)/postern-deliver: $(DELIVER_OBJS:.o=.c) $(LIB_OBJS:.o=.c) $(wildcard include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ \
	    $(DELIVER_OBJS:.o=.c) $(LIB_OBJS:.o=.c) $(SSL_LIBS) $(CRYPT_LIBS)

$(SAN_DIR)/test_%: tests/unit/test_%.c $(SAN_CORE) $(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    $(SAN_CORE) -lcmocka $(SSL_LIBS)

$(SAN_DIR)/test_authcheck: tests/unit/test_authcheck.c src/authcheck.c src/scram.c \
		$(SAN_CORE) $(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -Wl,--wrap=crypt_rn \
	    -o $@ $< src/authcheck.c src/scram.c $(SAN_CORE) \
	    -lcmocka $(SSL_LIBS) $(CRYPT_LIBS)

# The credential sources (unit.mk's UNIT_PASSDB_OBJS), with libpam.
SAN_PASSDB_SRCS = src/passdb.c src/passdb_pam.c src/passdb_checkpw.c src/checkpw_proto.c \
                  src/authcheck.c src/scram.c
$(SAN_DIR)/test_passdb: tests/unit/test_passdb.c $(SAN_PASSDB_SRCS) $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    $(SAN_PASSDB_SRCS) $(SAN_CORE) -lcmocka -lpam $(SSL_LIBS) $(CRYPT_LIBS)

$(SAN_DIR)/test_scram: tests/unit/test_scram.c src/sasl.c src/scram.c $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    src/sasl.c src/scram.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

$(SAN_DIR)/test_maildir_fallback: tests/unit/test_maildir_fallback.c $(MAILDIR_OBJS:.o=.c) \
		src/netio.c $(SAN_CORE) $(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -Wl,--wrap=renameat2 \
	    -Wl,--wrap=unlink -Wl,--wrap=unlinkat -o $@ $< $(MAILDIR_OBJS:.o=.c) src/netio.c \
	    $(SAN_CORE) -lcmocka $(SSL_LIBS)

$(SAN_DIR)/test_msgstream: tests/unit/test_msgstream.c src/msgstream.c src/netio.c $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    src/msgstream.c src/netio.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

$(SAN_DIR)/test_maildir_lock: tests/unit/test_maildir_lock.c $(MAILDIR_OBJS:.o=.c) \
		src/netio.c $(SAN_CORE) $(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -Wl,--wrap=fcntl \
	    -o $@ $< $(MAILDIR_OBJS:.o=.c) src/netio.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

# The delivery agent's no-replace rename, with renameat2 wrapped.
$(SAN_DIR)/test_deliver_fallback: tests/unit/test_deliver_fallback.c src/deliver.c $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -Wl,--wrap=renameat2 \
	    -o $@ $< src/deliver.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

# The per-source limits table.
$(SAN_DIR)/test_srclimits: tests/unit/test_srclimits.c src/srclimits.c $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    src/srclimits.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

# Reading a PROXY header off real socket pairs (as in unit.mk).
$(SAN_DIR)/test_proxy_io: tests/unit/test_proxy_io.c src/proxy_io.c src/srclimits.c $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) -o $@ $< \
	    src/proxy_io.c src/srclimits.c $(SAN_CORE) -lcmocka $(SSL_LIBS)

# The protocol tests link their daemon sources (UNIT_PROTO_OBJS_* in
# tests/unit/unit.mk, which lists them in UNIT_PROTO) and the loop's test
# wraps plog.
$(UNIT_PROTO:tests/unit/%=$(SAN_DIR)/%): $(SAN_DIR)/test_%: \
		tests/unit/test_%.c $$(UNIT_PROTO_OBJS_%:.o=.c) $(SAN_CORE) \
		$(wildcard tests/unit/*.h include/*.h)
	@mkdir -p $(SAN_DIR)
	$(SAN_CC) $(ALL_CPPFLAGS) $(SAN_WARN) $(SAN_FLAGS) $(SSL_CFLAGS) $(UNIT_PROTO_LD_$*) -o $@ $< \
	    $(UNIT_PROTO_OBJS_$*:.o=.c) $(SAN_CORE) -lcmocka $(SSL_LIBS)

asan-build: $(SAN_DIR)/postern $(SAN_DIR)/postern-deliver $(SAN_UNIT)

# The unit tests alone (also the first half of make asan).
asan-unit: $(SAN_UNIT)
	rm -rf $(SAN_LOGS)
	mkdir -p $(SAN_LOGS)
	chmod 1777 $(SAN_LOGS)    # mail processes run as the mail users
	@fail=0; for t in $(SAN_UNIT); do \
	    echo "== $$t"; $(SAN_ENV) ./$$t || { echo "FAILED: $$t"; fail=1; }; \
	done; \
	if ls $(SAN_LOGS)/asan.* $(SAN_LOGS)/ubsan.* >/dev/null 2>&1; then \
	    echo "asan-unit: sanitizer reports:"; head -50 $(SAN_LOGS)/asan.* $(SAN_LOGS)/ubsan.* \
	        2>/dev/null; fail=1; fi; exit $$fail

# testssl.sh is left out of the sanitizer pass: it audits the TLS settings,
# which are the same in both builds (the normal integration run covers it),
# and its many short probes time out on the much slower ASan build.  The
# memory_scan tests (no keys or hashes in a mail process's memory) are left
# out too: they test the production allocator, and ASan's reserves
# terabytes of address space and keeps freed blocks in quarantine.
asan: all asan-build asan-unit
	$(SAN_ENV) POSTERN_BIN=$(abspath $(SAN_DIR)/postern) \
	    POSTERN_DELIVER_BIN=$(abspath $(SAN_DIR)/postern-deliver) \
	    POSTERN_TEST_CONF='$(SAN_TEST_CONF)' POSTERN_LOG_DIR=$(SAN_LOGS)/daemon \
	    $(PYTEST) -q -p no:cacheprovider tests/integration \
	    --ignore=tests/integration/test_testssl.py -m "not memory_scan"
	@if ls $(SAN_LOGS)/asan.* $(SAN_LOGS)/ubsan.* >/dev/null 2>&1; then \
	    echo "asan: sanitizer reports:"; head -50 $(SAN_LOGS)/asan.* $(SAN_LOGS)/ubsan.* \
	        2>/dev/null; exit 1; fi
	@if grep -lE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: UndefinedBehavior|Sanitizer CHECK failed|Can.t open file: .*/logs/' \
	        $(SAN_LOGS)/daemon/*.log 2>/dev/null; then \
	    echo "asan: sanitizer reports in the daemon logs above"; exit 1; fi
	@echo "asan: no sanitizer reports"

# ---- valgrind ----
VG_DIR = build-valgrind

valgrind: all
	rm -rf $(VG_DIR)
	mkdir -p $(VG_DIR)
	/usr/bin/python3 tests/valgrind_session.py --postern $(abspath postern) \
	    --logs $(abspath $(VG_DIR))

# ---- static analysis ----
CPPCHECK      ?= cppcheck
CLANG_TIDY    ?= clang-tidy
STATIC_CFLAGS  = -std=c11 -D_GNU_SOURCE -DSYSCONFDIR='"/etc"' -Iinclude $(SSL_CFLAGS)
# Per-file exceptions to .clang-tidy, each with its reason:
#  tls_relay.c: two dead stores in tls_relay's loop (r = 1 before the revents
#    test, client_open = 0 just before break): harmless, kept for clarity
#    by its author.
#  postern-passwd.c: the analyzer assumes len + n + 1 can wrap to 0 in
#    buf_add and then reports memcpy into a NULL buffer; n is a strlen().
TIDY_EXTRA_src/tls_relay.c      = --checks=-clang-analyzer-deadcode.DeadStores
TIDY_EXTRA_src/postern-passwd.c = --checks=-clang-analyzer-core.NonNullParamChecker

static:
	$(CPPCHECK) --enable=warning,style,performance,portability --std=c11 \
	    -D_GNU_SOURCE -DSYSCONFDIR='"/etc"' -Iinclude --inline-suppr \
	    --suppressions-list=tests/static/cppcheck-suppressions.txt \
	    --error-exitcode=1 --quiet \
	    --template='{file}:{line}: {severity}/{id}: {message}' src/*.c
	@fail=0; for f in src/*.c; do \
	    case $$f in \
	    src/tls_relay.c) extra='$(TIDY_EXTRA_src/tls_relay.c)';; \
	    src/postern-passwd.c) extra='$(TIDY_EXTRA_src/postern-passwd.c)';; \
	    *) extra=;; esac; \
	    out=$$($(CLANG_TIDY) --quiet $$extra $$f -- $(STATIC_CFLAGS) 2>&1) || fail=1; \
	    printf '%s\n' "$$out" | grep -E ': (warning|error):' && fail=1; \
	done; \
	if [ $$fail = 0 ]; then echo "static: cppcheck and clang-tidy clean"; fi; exit $$fail

sanitize-clean:
	rm -rf $(SAN_DIR) $(VG_DIR)

.PHONY: asan asan-build asan-unit valgrind static sanitize-clean
