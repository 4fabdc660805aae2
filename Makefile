# postern - a privilege-separated POP3 server.  Plain GNU make.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
# systemd units, sysusers.d and tmpfiles.d snippets: systemd reads all
# three below /usr/local/lib as well as /usr/lib (and /lib for units).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
EXAMPLEDIR ?= $(PREFIX)/share/doc/postern/examples
DESTDIR    ?=

# The one place of the version: the top entry of the Debian changelog.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' contrib/debian/changelog)

CC         ?= cc
PKG_CONFIG ?= pkg-config
SSL_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl 2>/dev/null)
SSL_LIBS   := $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)
CRYPT_LIBS := $(shell $(PKG_CONFIG) --libs libxcrypt 2>/dev/null || echo -lcrypt)

# Hardening defaults; dpkg-buildflags' CFLAGS/LDFLAGS/CPPFLAGS are appended
# after ours, so a packager's choice wins.
HARDEN_CFLAGS  = -O2 -g -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2 \
                 -fstack-clash-protection
HARDEN_LDFLAGS = -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
WARN           = -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
                 -Wno-unused-parameter
ALL_CPPFLAGS   = -D_GNU_SOURCE -Iinclude -DSYSCONFDIR='"$(SYSCONFDIR)"' $(CPPFLAGS)
ALL_CFLAGS     = $(HARDEN_CFLAGS) $(WARN) $(SSL_CFLAGS) $(CFLAGS)
ALL_LDFLAGS    = $(HARDEN_LDFLAGS) $(LDFLAGS)

# Pure code (no process-model assumptions): unit-tested and fuzzed.
CORE_OBJS = src/util.o src/parse.o src/config.o src/confnet.o src/msgencode.o src/proxy.o \
            src/mdname.o src/passwd_line.o src/log.o src/heap.o src/rcpt.o \
            src/base64.o src/ipc.o src/uidl_import.o
# Credential checks and SCRAM (its secret format too), used by the daemon's
# monitor, by postern-deliver and by postern-passwd.
SHARED_OBJS = src/authcheck.o src/scram.o
# The code more than one program uses, as one static library each program
# links (the linker takes only the members a program needs).
LIB      = libpostern.a
LIB_OBJS = $(CORE_OBJS) $(SHARED_OBJS)
# The Maildir provider of the mail store (the mail process).
MAILDIR_OBJS = src/maildir.o src/maildir_index.o src/maildir_dups.o \
               src/maildirsize.o src/msgstream.o src/uidl_map.o src/maildir_sweep.o
# The daemon's processes.
DAEMON_OBJS = src/main.o src/master.o src/monitor.o src/monitor_auth.o src/preauth.o src/preauth_sasl.o \
              src/mailproc.o $(MAILDIR_OBJS) src/netio.o \
              src/privdrop.o src/pop3cmd.o src/serve.o src/capa.o src/uidindex.o src/mailbox.o src/sleep.o src/monparent.o src/userext.o src/mailstate.o \
              src/tls_ctx.o src/tls_conn.o src/tls_relay.o \
              src/sasl.o src/sandbox_linux.o src/srclimits.o src/listen.o src/sdnotify.o \
              src/confcheck.o \
              src/proxy_io.o src/proxy_wait.o \
              src/passdb.o src/passdb_pam.o src/passdb_checkpw.o src/checkpw_proto.o
PASSWD_OBJS = src/postern-passwd.o src/passwd_hash.o src/passwd_file.o
DELIVER_OBJS = src/postern-deliver.o src/pickup.o src/pickup_record.o src/deliver.o

BINS = postern postern-passwd postern-deliver

# Each compile also writes the headers it read into a .d file beside its
# output (-MMD; -MP adds a target per header so a removed header does not
# stop the build); the .d files are included below, so an object is
# rebuilt when a header it includes changes, and only then.
DEPFLAGS = -MMD -MP

all: $(BINS)

$(LIB): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

postern: $(DAEMON_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(SSL_LIBS) $(CRYPT_LIBS) -lseccomp -lpam

postern-passwd: $(PASSWD_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(SSL_LIBS) $(CRYPT_LIBS)

postern-deliver: $(DELIVER_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(SSL_LIBS) $(CRYPT_LIBS)

src/%.o: src/%.c
	$(CC) $(ALL_CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

-include $(wildcard src/*.d tests/unit/*.d)

src/main.o: ALL_CPPFLAGS += -DPOSTERN_VERSION='"$(VERSION)"'
src/main.o: contrib/debian/changelog

include contrib/install.mk

# The demo: build, make ./demo, run in the foreground on 127.0.0.1:1110.
run: deps all
	sh contrib/demo.sh

deps:
	sh contrib/install-deps.sh build

# Everything CI runs: static checks, unit and integration tests, the same
# on an ASan+UBSan build, a valgrind session, short fuzzing runs, and the
# benchmark at tiny sizes (so it keeps working; no timing is asserted).
check:
	sh contrib/install-deps.sh test
	$(MAKE) all
	$(MAKE) static
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) cluster-test
	$(MAKE) fuzz-quick
	$(MAKE) fuzz-proto-quick
	$(MAKE) valgrind
	$(MAKE) asan
	$(MAKE) bench-smoke
	$(MAKE) package-test

-include tests/unit/unit.mk
-include tests/integration/integration.mk
-include tests/cluster/cluster.mk
-include tests/fuzz/fuzz.mk
-include tests/fuzz/fuzz-proto.mk
-include tests/sanitize.mk
-include contrib/bench/bench.mk
-include tests/package/package.mk

clean:
	rm -f src/*.o src/*.d $(LIB) $(BINS) tests/unit/*.o tests/unit/*.d $(UNIT_BINS)
	rm -rf demo build-deb build-rpm

.PHONY: all install uninstall deb rpm package-test run deps check clean unit integration \
	cluster-test
