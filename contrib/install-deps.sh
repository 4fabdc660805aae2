#!/bin/sh
# Install what building (build) or testing (test) postern needs on Debian.
# Runs apt-get only for packages that are missing; needs root for that.
set -e
build="gcc make pkg-config libssl-dev libcrypt-dev libseccomp-dev libpam0g-dev"
test="$build libcmocka-dev python3 python3-pytest fetchmail getmail6 mpop curl
      openssl libio-socket-ssl-perl perl mandoc cppcheck clang libclang-rt-14-dev
      valgrind procps iproute2 testssl.sh libnet-ssleay-perl dovecot-core
      dovecot-pop3d gnuplot-nox postfix gdb haproxy systemd groff-base
      build-essential dpkg-dev debhelper lintian rpm fail2ban python3-systemd
      man-db glusterfs-server glusterfs-client fuse3
      libpam-wrapper passwd"
case "$1" in
build) want=$build ;;
test) want=$test ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
# Courier's POP3 server for tests/integration/test_migrate.py: courier-pop
# conflicts with dovecot as an installed package, so its .debs are only
# downloaded (apt-get download, nothing installed) and the test unpacks them
# with dpkg -x.  After the package lists are fresh (apt-get update below).
courier_debs="courier-pop courier-base courier-authlib libcourier-unicode4"
deb_cache=/var/cache/postern-test-debs
fetch_courier() {
	[ "$1" = test ] || return 0
	for p in $courier_debs; do
		ls "$deb_cache/${p}_"*.deb >/dev/null 2>&1 && continue
		if [ "$(id -u)" != 0 ]; then
			echo "missing $deb_cache/$p (run as root)" >&2
			return 1
		fi
		[ -n "$updated" ] || { apt-get update -q >/dev/null || true; updated=1; }
		mkdir -p "$deb_cache"
		(cd "$deb_cache" && apt-get download -q "$p" >/dev/null) || return 1
	done
}
updated=""
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	fetch_courier "$1"
	exit $?
fi
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Packages such as dovecot would start their system service on install; the
# benchmark runs its own private instance, so keep services down meanwhile.
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
# fail2ban is for tests/package (fail2ban-regex, fail2ban-client -t): its
# service stays down too (policy-rc.d above).
# Postfix is for tests/integration/test_mta.py, which runs a private
# instance: no system configuration, no system service.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q >/dev/null || true
updated=1
rc=0
apt-get install -y -q --no-install-recommends $missing >/dev/null || rc=$?
[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
[ $rc = 0 ] && { fetch_courier "$1" || rc=$?; }
exit $rc
