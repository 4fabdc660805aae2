# contrib/bench/bench.mk - side-by-side benchmark, postern vs Dovecot.
# Included from the top Makefile (-include contrib/bench/bench.mk).
#   make bench        full run (about 30-40 min on 2 cores; BENCH_RUNS=3 BENCH_BIG=0 to shrink)
#   make bench-smoke  tiny sizes, one run each, < 2 min; fails on any validation failure
#   make bench-deps   install Dovecot (pop3d) and gnuplot-nox from Debian
#   make bench-auth   what a failed login costs, known vs unknown user (authtime.c)
# Must run as root.  Results in contrib/bench/results/ (gitignored).

# Keep the including Makefile's default goal (an empty .DEFAULT_GOAL makes
# the next target parsed the default again).
BENCH_SAVED_GOAL := $(.DEFAULT_GOAL)

BENCH_DIR     := contrib/bench
BENCH_LOADGEN := $(BENCH_DIR)/loadgen
BENCH_PYTHON  ?= /usr/bin/python3
BENCH_CC      ?= $(CC)
BENCH_SSL_CFLAGS ?= $(shell pkg-config --cflags openssl 2>/dev/null)
BENCH_SSL_LIBS   ?= $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

$(BENCH_LOADGEN): $(BENCH_DIR)/loadgen.c
	$(BENCH_CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(BENCH_SSL_CFLAGS) -o $@ $< $(BENCH_SSL_LIBS) -lpthread

# postern is built if it can be; the harness reports "n/a" for it otherwise.
bench-build: $(BENCH_LOADGEN)
	@$(MAKE) --no-print-directory all || echo "bench: postern did not build; benchmarking what is available"

bench: bench-build
	$(BENCH_PYTHON) $(BENCH_DIR)/run.py

bench-smoke: bench-build
	$(BENCH_PYTHON) $(BENCH_DIR)/run.py --smoke

bench-deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    dovecot-core dovecot-pop3d gnuplot-nox openssl libssl-dev

# The cost of failed logins per kind of account (issue 13 finding 6).
BENCH_AUTH_RUNS ?= 41
$(BENCH_DIR)/authtime: $(BENCH_DIR)/authtime.c $(LIB)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(SSL_LIBS) $(CRYPT_LIBS)

bench-auth: $(BENCH_DIR)/authtime
	$(BENCH_DIR)/authtime $(BENCH_AUTH_RUNS)

bench-clean:
	rm -rf $(BENCH_DIR)/results $(BENCH_LOADGEN) $(BENCH_DIR)/authtime

.PHONY: bench bench-smoke bench-build bench-deps bench-clean bench-auth

.DEFAULT_GOAL := $(BENCH_SAVED_GOAL)
