# tests/unit/unit.mk - cmocka unit tests of the pure modules.  Included from
# the top Makefile, which provides LIB (libpostern.a), DEPFLAGS, ALL_CPPFLAGS,
# ALL_CFLAGS, ALL_LDFLAGS, SSL_LIBS and CRYPT_LIBS.
#   make unit          build and run every test; fails if any test fails
#   make unit-strict   also fail on the KNOWN BUG tests (reported, unfixed)
UNIT_NAMES = parse msgencode mdname passwd_line config util heap rcpt proxy proxy_v2 \
             base64 ipc uidl_import
UNIT_CORE  = $(UNIT_NAMES:%=tests/unit/test_%)
# SCRAM: the pre-auth side's message splitting (the server is in the library).
UNIT_SCRAM_OBJS = src/sasl.o
# The command parser and CAPA builder, the line reader and the command
# loop: pure protocol code that is linked into the daemon only.  The loop's
# test wraps plog to see what is logged.
UNIT_PROTO_OBJS_pop3cmd = src/pop3cmd.o src/capa.o src/uidindex.o
UNIT_PROTO_OBJS_netio   = src/netio.o
UNIT_PROTO_OBJS_serve   = src/serve.o src/pop3cmd.o src/netio.o
UNIT_PROTO_OBJS_mailstate = src/mailstate.o src/uidindex.o
UNIT_PROTO_OBJS_userext = src/userext.o
UNIT_PROTO_LD_serve     = -Wl,--wrap=plog
UNIT_PROTO = tests/unit/test_pop3cmd tests/unit/test_netio tests/unit/test_serve \
             tests/unit/test_mailstate tests/unit/test_userext
UNIT_BINS  = $(UNIT_CORE) tests/unit/test_authcheck tests/unit/test_scram tests/unit/test_passdb \
             tests/unit/test_maildir_fallback tests/unit/test_maildir_lock \
             tests/unit/test_deliver_fallback \
             tests/unit/test_msgstream $(UNIT_PROTO) tests/unit/test_sandbox \
             tests/unit/test_srclimits tests/unit/test_proxy_io
# Each test links the code under test from libpostern.a (the linker takes
# the members it needs) or names its object; headers are tracked by
# -MMD (DEPFLAGS), the .d files included by the top Makefile.
UNIT_CC    = $(CC) $(ALL_CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS)

$(UNIT_CORE): tests/unit/test_%: tests/unit/test_%.c $(LIB)
	$(UNIT_CC) -o $@ $< $(LIB) -lcmocka $(SSL_LIBS)

.SECONDEXPANSION:
$(UNIT_PROTO): tests/unit/test_%: tests/unit/test_%.c $$(UNIT_PROTO_OBJS_%) $(LIB)
	$(UNIT_CC) $(UNIT_PROTO_LD_$*) -o $@ $< $(UNIT_PROTO_OBJS_$*) $(LIB) -lcmocka $(SSL_LIBS)

# The monitor's credential checks, with crypt_rn wrapped so that a test
# sees which hashes are computed.
tests/unit/test_authcheck: tests/unit/test_authcheck.c $(LIB)
	$(UNIT_CC) -Wl,--wrap=crypt_rn -o $@ $< \
	    $(LIB) -lcmocka $(SSL_LIBS) $(CRYPT_LIBS)

tests/unit/test_scram: tests/unit/test_scram.c $(UNIT_SCRAM_OBJS) $(LIB)
	$(UNIT_CC) -o $@ $< $(UNIT_SCRAM_OBJS) $(LIB) -lcmocka $(SSL_LIBS)

# The credential sources: checkpassword formats, the PAM conversation,
# reading a child's pipes under a deadline.
UNIT_PASSDB_OBJS = src/passdb.o src/passdb_pam.o src/passdb_checkpw.o src/checkpw_proto.o
tests/unit/test_passdb: tests/unit/test_passdb.c $(UNIT_PASSDB_OBJS) $(LIB)
	$(UNIT_CC) -o $@ $< $(UNIT_PASSDB_OBJS) $(LIB) -lcmocka -lpam $(SSL_LIBS) $(CRYPT_LIBS)

# Maildir moves where renameat2(RENAME_NOREPLACE) is missing (link +
# unlink), with renameat2 and unlinkat wrapped to fail on demand; the
# maildirsize lines of UPDATE, and the tmp/ sweep.
tests/unit/test_maildir_fallback: tests/unit/test_maildir_fallback.c $(MAILDIR_OBJS) src/netio.o $(LIB)
	$(UNIT_CC) -Wl,--wrap=renameat2 -Wl,--wrap=unlink -Wl,--wrap=unlinkat -o $@ $< \
	    $(MAILDIR_OBJS) src/netio.o $(LIB) -lcmocka $(SSL_LIBS)

# A byte range of a file streamed in POP3 form (the mail store's RETR/TOP).
tests/unit/test_msgstream: tests/unit/test_msgstream.c src/msgstream.o src/netio.o $(LIB)
	$(UNIT_CC) -o $@ $< src/msgstream.o src/netio.o $(LIB) -lcmocka $(SSL_LIBS)

# The mailbox lock when the file system refuses fcntl locks (fcntl wrapped
# to fail on demand), and a real lock whose holder is killed.
tests/unit/test_maildir_lock: tests/unit/test_maildir_lock.c $(MAILDIR_OBJS) src/netio.o $(LIB)
	$(UNIT_CC) -Wl,--wrap=fcntl -o $@ $< $(MAILDIR_OBJS) src/netio.o $(LIB) -lcmocka $(SSL_LIBS)

# The real pre-auth seccomp filter, loaded in forked children.
tests/unit/test_sandbox: tests/unit/test_sandbox.c src/sandbox_linux.o $(LIB)
	$(UNIT_CC) -o $@ $< src/sandbox_linux.o $(LIB) -lcmocka -lseccomp $(SSL_LIBS)

# The delivery agent's no-replace rename into new/, the same way.
tests/unit/test_deliver_fallback: tests/unit/test_deliver_fallback.c src/deliver.o $(LIB)
	$(UNIT_CC) -Wl,--wrap=renameat2 -o $@ $< src/deliver.o $(LIB) -lcmocka $(SSL_LIBS)

# The per-source limits table, driven with its clock argument.
tests/unit/test_srclimits: tests/unit/test_srclimits.c src/srclimits.o $(LIB)
	$(UNIT_CC) -o $@ $< src/srclimits.o $(LIB) -lcmocka $(SSL_LIBS)

# Reading a PROXY header off real socket pairs (peek, then exactly the header).
tests/unit/test_proxy_io: tests/unit/test_proxy_io.c src/proxy_io.o src/srclimits.o $(LIB)
	$(UNIT_CC) -o $@ $< src/proxy_io.o src/srclimits.o $(LIB) -lcmocka $(SSL_LIBS)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	    echo "== $$t"; ./$$t || { echo "FAILED: $$t"; fail=1; }; \
	done; \
	if [ $$fail = 0 ]; then echo "unit: all passed"; fi; exit $$fail

unit-strict:
	POSTERN_UNIT_STRICT=1 $(MAKE) unit

.PHONY: unit unit-strict
