# make package-test: the Debian package (make deb, lintian, dpkg -i, the
# installed daemon as its unit starts it, fail2ban, dpkg --purge), the RPM
# (make rpm) and the demo (contrib/demo.sh, its curl lines).  Root; it
# installs and purges the package "postern" on this machine.
PYTEST ?= /usr/bin/python3 -m pytest
package-test: all
	$(PYTEST) -q -p no:cacheprovider tests/package
