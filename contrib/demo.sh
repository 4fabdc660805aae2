#!/bin/sh
# make run: a local demo of postern.  Creates ./demo with a passwd file, a
# Maildir with sample messages, a throwaway self-signed certificate and a
# config listening on 127.0.0.1:1110 (plain, STLS) and 127.0.0.1:1995
# (implicit TLS), prints curl, mpop and fetchmail command lines for the
# three, then runs postern in the foreground, logging to the terminal.
# DEMO_DIR, DEMO_PORT and DEMO_TLS_PORT change the directory and the ports
# (tests/package/test_demo.py runs it so).
set -e
top=$(pwd)
demo=${DEMO_DIR:-$top/demo}
port=${DEMO_PORT:-1110}
tls_port=${DEMO_TLS_PORT:-1995}
uid=5000
gid=5000
if [ "$(id -u)" != 0 ]; then
	echo "make run needs root: postern starts as root and drops privileges." >&2
	exit 1
fi
getent passwd postern >/dev/null ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postern
mkdir -p "$demo/home/demo/Maildir/cur" "$demo/home/demo/Maildir/new" "$demo/home/demo/Maildir/tmp"
chmod 755 "$demo" "$demo/home"
n=0
for subject in "Welcome to postern" "A message with .dots" "Third message"; do
	n=$((n + 1))
	f="$demo/home/demo/Maildir/new/$((1700000000 + n)).M${n}P1.demo"
	[ -e "$f" ] || [ -n "$(ls "$demo/home/demo/Maildir/cur/" | grep "^$((1700000000 + n))\.")" ] && continue
	cat > "$f" <<MSG
From: postern demo <demo@localhost>
To: demo@localhost
Subject: $subject
Date: Tue, 14 Nov 2023 22:13:2$n +0000
Message-ID: <demo$n@localhost>

Hello from postern, message $n.
.This line starts with a dot and arrives intact.
MSG
done
chown -R $uid:$gid "$demo/home/demo"
chmod 700 "$demo/home/demo"
if [ ! -f "$demo/password" ]; then
	head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$demo/password"
	chmod 600 "$demo/password"
fi
pass=$(cat "$demo/password")
rm -f "$demo/passwd"
"$top/postern-passwd" -f "$demo/passwd" add demo -u $uid -g $gid -d "$demo/home/demo" --stdin <<P
$pass
P
# A throwaway self-signed certificate for 127.0.0.1 (the demo only).
if [ ! -f "$demo/cert.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 30 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$demo/key.pem" -out "$demo/cert.pem" 2>/dev/null
	chmod 600 "$demo/key.pem"
fi
cat > "$demo/postern.conf" <<CONF
# Demo configuration written by 'make run'.
listen = 127.0.0.1:$port
listen_tls = 127.0.0.1:$tls_port
ssl_cert = $demo/cert.pem
ssl_key = $demo/key.pem
passwd_file = $demo/passwd
first_valid_uid = 1000
login_fail_delay = 1s
CONF
# fetchmail takes the password from its run control file (mode 0600).
for mode in plain stls tls; do
	case $mode in
	plain) svc=$port; tls="sslproto \"\"" ;;   # no opportunistic STLS
	stls) svc=$port; tls="sslproto tls1.2+ sslcertck sslcertfile \"$demo/cert.pem\"" ;;
	tls) svc=$tls_port; tls="ssl sslcertck sslcertfile \"$demo/cert.pem\"" ;;
	esac
	printf 'poll 127.0.0.1 protocol POP3 service %s\n  user demo password "%s" %s\n' \
		"$svc" "$pass" "$tls" > "$demo/fetchmailrc.$mode"
	chmod 600 "$demo/fetchmailrc.$mode"
done
mpop="mpop -s --host=127.0.0.1 --user=demo --passwordeval='cat $demo/password' --auth=user --delivery=mbox,$demo/mbox --uidls-file=$demo/mpop_uidls"
trust="--tls-trust-file=$demo/cert.pem"
cat <<TRY
postern demo: user 'demo', password '$pass'
plain POP3 on 127.0.0.1:$port (passwords without TLS: loopback only):
  curl pop3://demo:$pass@127.0.0.1:$port/1
  $mpop --port=$port --tls=off
  fetchmail -f $demo/fetchmailrc.plain --check
STLS on 127.0.0.1:$port (self-signed certificate $demo/cert.pem):
  curl --ssl-reqd --cacert $demo/cert.pem pop3://demo:$pass@127.0.0.1:$port/1
  $mpop --port=$port --tls=on --tls-starttls=on $trust
  fetchmail -f $demo/fetchmailrc.stls --check
implicit TLS on 127.0.0.1:$tls_port (like port 995):
  curl --cacert $demo/cert.pem pop3s://demo:$pass@127.0.0.1:$tls_port/1
  $mpop --port=$tls_port --tls=on --tls-starttls=off $trust
  fetchmail -f $demo/fetchmailrc.tls --check
stop: Ctrl-C
TRY
exec "$top/postern" -f "$demo/postern.conf" -d
