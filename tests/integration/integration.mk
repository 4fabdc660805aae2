# Integration tests: the real daemon as root on loopback, real clients.
PYTEST ?= /usr/bin/python3 -m pytest
integration: all
	$(PYTEST) -q -p no:cacheprovider tests/integration
