# The cluster test (tests/cluster/): three postern hosts behind HAProxy on
# one GlusterFS volume, a host killed under load.  Root, about 2 minutes.
PYTEST ?= /usr/bin/python3 -m pytest
cluster-test: all
	$(PYTEST) -q -s -p no:cacheprovider tests/cluster
