#!/bin/sh
# make run: a local demo of postern.  Creates ./demo with a passwd file, a
# Maildir with sample messages and a config listening on 127.0.0.1:1110,
# then runs postern in the foreground, logging to the terminal.
set -e
top=$(pwd)
demo=$top/demo
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
cat > "$demo/postern.conf" <<CONF
# Demo configuration written by 'make run'.
listen = 127.0.0.1:1110
passwd_file = $demo/passwd
first_valid_uid = 1000
login_fail_delay = 1s
CONF
echo "postern demo: user 'demo', password '$pass'"
echo "try:  curl pop3://demo:$pass@127.0.0.1:1110/1"
echo "stop: Ctrl-C"
exec "$top/postern" -f "$demo/postern.conf" -d
