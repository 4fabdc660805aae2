# contrib/install.mk - make install / uninstall, and the packages (make deb,
# make rpm).  Included by the top-level Makefile.
#
# Everything that names a program (systemd units, xinetd and inetd
# examples) is installed from a template with @SBINDIR@ replaced by the
# SBINDIR the programs go to, so the installed copies always name the
# installed binaries, whatever PREFIX is.

UNITS      = $(notdir $(wildcard contrib/systemd/*.service contrib/systemd/*.socket \
                 contrib/systemd/*.path contrib/systemd/*.timer))
MAN8       = postern.8 postern-passwd.8 postern-deliver.8
MAN5       = postern.conf.5
EXAMPLES   = xinetd/pop3 xinetd/pop3s inetd.conf.example
F2B_FILTER = $(SYSCONFDIR)/fail2ban/filter.d/postern.conf
F2B_JAIL   = $(SYSCONFDIR)/fail2ban/jail.d/postern.conf
PAM_FILE   = $(SYSCONFDIR)/pam.d/postern
SUBST      = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/postern \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(EXAMPLEDIR)/xinetd \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/filter.d \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/jail.d $(DESTDIR)$(SYSCONFDIR)/pam.d
	install -m 0755 $(BINS) $(DESTDIR)$(SBINDIR)/
	cd man && install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	cd man && install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	for u in $(UNITS); do \
	    $(SUBST) contrib/systemd/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; done
	for e in $(EXAMPLES); do \
	    $(SUBST) contrib/$$e > $(DESTDIR)$(EXAMPLEDIR)/$$e && \
	    chmod 0644 $(DESTDIR)$(EXAMPLEDIR)/$$e || exit 1; done
	install -m 0644 contrib/sysusers.d/postern.conf $(DESTDIR)$(SYSUSERSDIR)/postern.conf
	install -m 0644 contrib/tmpfiles.d/postern.conf $(DESTDIR)$(TMPFILESDIR)/postern.conf
	install -m 0644 contrib/fail2ban/filter.d/postern.conf $(DESTDIR)$(F2B_FILTER)
	# Configuration: never overwrite what is there.
	test -e $(DESTDIR)$(F2B_JAIL) || \
	    install -m 0644 contrib/fail2ban/jail.d/postern.conf $(DESTDIR)$(F2B_JAIL)
	test -e $(DESTDIR)$(PAM_FILE) || \
	    install -m 0644 contrib/pam.d/postern $(DESTDIR)$(PAM_FILE)
	test -e $(DESTDIR)$(SYSCONFDIR)/postern/postern.conf || \
	    install -m 0644 etc/postern.conf $(DESTDIR)$(SYSCONFDIR)/postern/postern.conf

# Removes what "make install" put, with the same variables.  The two
# configuration files (and the PAM service) go only while they are as installed; the credentials
# file, which install never creates, stays.
uninstall:
	cd $(DESTDIR)$(SBINDIR) && rm -f $(BINS)
	cd $(DESTDIR)$(MANDIR)/man8 && rm -f $(MAN8)
	cd $(DESTDIR)$(MANDIR)/man5 && rm -f $(MAN5)
	cd $(DESTDIR)$(SYSTEMDUNITDIR) && rm -f $(UNITS)
	cd $(DESTDIR)$(EXAMPLEDIR) && rm -f $(EXAMPLES)
	-rmdir $(DESTDIR)$(EXAMPLEDIR)/xinetd $(DESTDIR)$(EXAMPLEDIR) \
	    $(DESTDIR)$(dir $(EXAMPLEDIR:/=)) 2>/dev/null
	rm -f $(DESTDIR)$(SYSUSERSDIR)/postern.conf $(DESTDIR)$(TMPFILESDIR)/postern.conf
	rm -f $(DESTDIR)$(F2B_FILTER)
	for f in "contrib/fail2ban/jail.d/postern.conf $(F2B_JAIL)" \
	         "contrib/pam.d/postern $(PAM_FILE)" \
	         "etc/postern.conf $(SYSCONFDIR)/postern/postern.conf"; do \
	    set -- $$f; \
	    if cmp -s $$1 $(DESTDIR)$$2; then rm -f $(DESTDIR)$$2; \
	    elif [ -e $(DESTDIR)$$2 ]; then echo "kept $(DESTDIR)$$2 (changed)"; fi; \
	done
	-rmdir $(DESTDIR)$(SYSCONFDIR)/postern 2>/dev/null

# make deb: binary and source packages (native, 3.0) built by
# dpkg-buildpackage from a clean copy of the tree in build-deb/, with
# contrib/debian as its debian/.  The copy holds the files git knows
# (tracked, or new and not ignored), so nothing built here leaks in.
DEB_DIR = build-deb
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/postern-$(VERSION)
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard | \
	    tar --null --ignore-failed-read -T - -cf - ; \
	else \
	    tar --exclude=./$(DEB_DIR) --exclude=./build-rpm --exclude='*.o' \
	        --exclude=./demo -cf - . ; \
	fi | tar -C $(DEB_DIR)/postern-$(VERSION) -xf -
	cp -R contrib/debian $(DEB_DIR)/postern-$(VERSION)/debian
	cd $(DEB_DIR)/postern-$(VERSION) && dpkg-buildpackage -us -uc
	ls $(DEB_DIR)/*.deb $(DEB_DIR)/*.changes

# make rpm: rpmbuild -bb on a tarball of the tree (same copy as above).
RPM_DIR = build-rpm
rpm:
	rm -rf $(RPM_DIR)
	mkdir -p $(RPM_DIR)/SOURCES $(RPM_DIR)/postern-$(VERSION)
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard | \
	    tar --null --ignore-failed-read -T - -cf - ; \
	else \
	    tar --exclude=./$(DEB_DIR) --exclude=./$(RPM_DIR) --exclude='*.o' \
	        --exclude=./demo -cf - . ; \
	fi | tar -C $(RPM_DIR)/postern-$(VERSION) -xf -
	tar -C $(RPM_DIR) -czf $(RPM_DIR)/SOURCES/postern-$(VERSION).tar.gz postern-$(VERSION)
	rm -rf $(RPM_DIR)/postern-$(VERSION)
	rpmbuild -bb --nodeps --define "_topdir $(CURDIR)/$(RPM_DIR)" \
	    contrib/rpm/postern.spec
	find $(RPM_DIR)/RPMS -name '*.rpm'
