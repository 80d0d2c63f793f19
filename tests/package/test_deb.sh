#!/bin/bash
# The Debian packages as an operator meets them: built with
# dpkg-buildpackage from a clean copy of the source, checked by lintian,
# installed with apt-get, the daemon run as the package's user, a plugin
# built against hookd-dev, then removed and purged. Prints TAP.
#
# It installs and purges packages and starts a daemon, so it runs only
# when allowed to change the machine: CI=true or HOOKD_PACKAGE_TEST=1, as
# root, on Debian. Otherwise it prints "1..0 # SKIP ...".
#
#   HOOKD_MANPAGES  the manual pages man -w must find (default: every page
#                   in docs/man, by name)
#   HOOKD_KEEP=1    keep the work folder (its path is printed at the end)
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

if [ "${CI:-}" != true ] && [ "${HOOKD_PACKAGE_TEST:-}" != 1 ]; then
	skip_all "installs and purges packages: set HOOKD_PACKAGE_TEST=1 (CI=true does too)"
fi
[ "$(id -u)" -eq 0 ] || skip_all "needs root (apt-get, a system user)"
[ -f /etc/debian_version ] || skip_all "not Debian"
git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
	skip_all "not a git checkout: the packages are built from its files"

missing=""
for t in dpkg-buildpackage dh dh_autoreconf fakeroot lintian systemd-analyze man \
	adduser apt-get curl python3 cc pkg-config runuser unshare ip; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	# scripts/dev installs them: in CI their absence is a failure.
	[ "${CI:-}" = true ] || skip_all "missing:$missing (scripts/dev deps installs them)"
	echo "1..1"
	echo "not ok 1 - the tools to build and check packages are installed (missing:$missing)"
	exit 1
fi

# present PACKAGE...: one of them is installed, or its configuration left.
present() {
	dpkg-query -W -f='${db:Status-Abbrev}\n' "$@" 2>/dev/null | grep -q '^.[ic]'
}

if present hookd hookd-dev; then
	# A machine of CI's is disposable; elsewhere the installed hookd and its
	# data belong to somebody.
	[ "${CI:-}" = true ] ||
		skip_all "hookd is installed on this machine and the test would purge it"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hookd-dev hookd >/dev/null 2>&1
fi

PLAN=21
echo "1..$PLAN"
n=0
failed=0
blocked=""            # set once a step the others need has failed
work=$(mktemp -d /tmp/hookd-deb.XXXXXX)
chmod 0711 "$work"    # hookd reaches $run, reads nothing else
run="$work/run"       # the daemon's folder, owned by hookd
pid=""                # the test daemon's PID
wrapper=""            # the runuser process around it
listener=""           # the sd_notify receiver's PID
started=""            # set once the test daemon was started
hpid=""               # the daemon running hello.so, while it runs
user_existed=no
id hookd >/dev/null 2>&1 && user_existed=yes

# ok NAME / fail NAME [why...]: one TAP line; why is printed as comments.
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
# check NAME CMD...: ok when CMD succeeds; else fail with the end of its
# output. CMD runs in this shell: the variables it sets stay set.
check() {
	name=$1
	shift
	if [ -n "$blocked" ]; then
		skip "$name" "$blocked"
		return 1
	fi
	if "$@" >"$work/case.out" 2>&1; then
		ok "$name"
		return 0
	fi
	fail "$name" "$(tail -n 60 "$work/case.out")"
	return 1
}
# daemon_check NAME CMD...: a check that needs the test daemon running.
daemon_check() {
	if [ -z "$blocked" ] && ! alive; then
		skip "$1" "hookd is not running"
		return 1
	fi
	check "$@"
}
# notify_check NAME CMD...: a check of the sd_notify protocol, which the
# unit's Type=notify relies on, once the test daemon was started.
notify_check() {
	if [ -z "$notify" ]; then
		skip "$1" "this hookd does not speak sd_notify"
		return 1
	fi
	if [ -z "$blocked" ] && [ -z "$started" ]; then
		skip "$1" "hookd did not start"
		return 1
	fi
	check "$@"
}
# block WHY: every later case is skipped for WHY.
block() { blocked=$1; }

# The files git knows in the working tree (committed or not, never ignored
# build output), copied as they are: what CI and distcheck test too.
copy_source() {
	mkdir -p "$work/src/hookd" &&
		(cd "$top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
			done | tar --null -T - -cf -) |
		tar -C "$work/src/hookd" -xf -
}

# As a Debian builder builds: the test suite runs (dh_auto_test), with the
# hardening flags of debian/rules, no network but loopback (a network
# namespace of its own), and none of the servers or npm packages that
# scripts/dev gives the suites, so the tests that need them say SKIP.
# No debug-symbol packages: nobody installs them here.
build_packages() {
	copy_source || return 1
	(cd "$work/src/hookd" &&
		env -u HOOKD_TEST_PG_URL -u HOOKD_TEST_PG_BIN -u HOOKD_TEST_PG_DATA \
			-u HOOKD_TEST_NODE_DEPS DEB_BUILD_OPTIONS="noddebs parallel=$(nproc)" \
			unshare --net sh -c 'ip link set lo up && exec dpkg-buildpackage -us -uc -b') \
		>"$work/build.log" 2>&1 ||
		{ tail -n 15 "$work/build.log"; suite_summary; return 1; }
	suite_summary
	grep -q '^# PASS: *[1-9]' "$work/build.log" ||
		{ echo "dh_auto_test ran no test"; return 1; }
	ls "$work"/src/hookd_*.deb "$work"/src/hookd-dev_*.deb >/dev/null
}

# The package build's test-suite counts and what failed (each failing
# case with what it printed), as TAP comments.
suite_summary() {
	grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):|^(FAIL|ERROR):' \
		"$work/build.log" | sed 's/^/# /'
	for l in "$work"/src/hookd/build-deb/tests/*/*.log; do
		grep -q '^not ok' "$l" 2>/dev/null || continue
		echo "# --- $l"
		grep -A12 '^not ok' "$l" | head -24 | sed 's/^/# /'
	done
}

# Errors fail; warnings are reported as comments.
run_lintian() {
	lintian "$work"/src/hookd_*.changes >"$work/lintian.out" 2>&1
	! grep '^E:' "$work/lintian.out"
}

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >"$work/apt.log" 2>&1 ||
		{ tail -n 20 "$work/apt.log"; return 1; }
}

state_folder() {
	id hookd &&
		[ "$(stat -c '%U:%G %a' /var/lib/hookd)" = "hookd:hookd 750" ] ||
		{ stat -c '%n %U:%G %a' /var/lib/hookd; return 1; }
}

conffile() {
	dpkg-query -W -f='${Conffiles}\n' hookd | grep -q ' /etc/hookd/hookd.conf ' &&
		runuser -u hookd -- /usr/bin/hookd --check-config -c /etc/hookd/hookd.conf
}

man_pages() {
	for p in $MANPAGES; do man -w "$p" || return 1; done
}

plugindir_matches() {
	dir=$(pkg-config --variable=plugindir hookd) &&
		[ -f "$dir/exec.so" ] &&
		dpkg -L hookd | grep -qx "$dir/exec.so" ||
		{ echo "plugindir=$dir"; return 1; }
}

# A configuration on a free loopback port: an exec handler records every
# event in $run/handled; events are stored where the package stores them.
write_config() {
	install -d -o hookd -g hookd -m 0750 "$run" &&
		cat >"$run/hookd.conf" <<EOF
server = { listen = "127.0.0.1:0"; };
storage = { url = "sqlite:/var/lib/hookd/hookd.db"; };
handlers = {
  mark = {
    plugin = "exec";
    command = ["/bin/sh", "-c", "printf '%s %s\\\\n' \"\$1\" \"\$2\" >> $run/handled",
               "sh", "{{id}}", "{{type}}"];
    timeout = 10;
  };
};
routes = ( { events = ["*"]; handlers = ["mark"]; } );
EOF
}

# Receives hookd's sd_notify datagrams on $run/notify, as systemd does for
# Type=notify, and writes their assignments (READY=1, ...) one a line into
# $run/notify.log.
start_listener() {
	python3 - "$run/notify" "$run/notify.log" <<'EOF' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(log, "a", buffering=1) as f:
    f.write("BOUND\n")
    while True:
        for field in s.recv(4096).decode("utf-8", "replace").split("\n"):
            if field:
                f.write(field + "\n")
EOF
	listener=$!
	wait_for 5 grep -q BOUND "$run/notify.log"
}

# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() {
	t=$(($1 * 10))
	shift
	while [ "$t" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# As the package's user, with the sd_notify socket in its environment.
start_daemon() {
	write_config && start_listener || return 1
	started=yes
	runuser -u hookd -- env NOTIFY_SOCKET="$run/notify" /bin/sh -c \
		'echo $$ >"$1"; exec /usr/bin/hookd -c "$2"' sh "$run/pid" "$run/hookd.conf" \
		2>"$run/hookd.log" &
	wrapper=$!
	wait_for 5 test -s "$run/pid" || return 1
	pid=$(cat "$run/pid")
	if ! wait_for 10 grep -q ' listening .*port=' "$run/hookd.log"; then
		cat "$run/hookd.log"
		return 1
	fi
	port=$(sed -n 's/.* listening .*port=\([0-9]*\).*/\1/p' "$run/hookd.log" | head -1)
	[ "$(ps -o user= -p "$pid")" = hookd ] || { ps -o user=,comm= -p "$pid"; return 1; }
}

# notified MESSAGE: hookd sent MESSAGE (within 5 s).
notified() {
	wait_for 5 grep -qx "$1" "$run/notify.log" || { cat "$run/notify.log"; return 1; }
}

reloaded() {
	kill -HUP "$pid" || return 1
	wait_for 5 awk '$0 == "RELOADING=1" { r = 1 } r && $0 == "READY=1" { ok = 1 }
		END { exit !ok }' "$run/notify.log" || { cat "$run/notify.log"; return 1; }
}

publish() {
	code=$(curl -s -o "$run/answer" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' \
		-d '{"type": "package.installed", "data": {"by": "test_deb"}}' \
		"http://127.0.0.1:$port/v4/events") &&
		[ "$code" = 202 ] || { echo "HTTP $code"; cat "$run/answer"; return 1; }
	event=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$run/answer")
	[ -n "$event" ]
}

handled() {
	wait_for 10 grep -qx "$event package.installed" "$run/handled" ||
		{ cat "$run/handled" "$run/hookd.log"; return 1; }
}

db_owned() {
	[ "$(stat -c %U /var/lib/hookd/hookd.db)" = hookd ] ||
		{ ls -l /var/lib/hookd; return 1; }
}

# SIGTERM, then wait (runuser passes hookd's exit status on), at most
# 30 s: past that it is killed and the case fails.
stop_daemon() {
	kill -TERM "$pid" || return 1
	if ! wait_for 30 sh -c '! kill -0 "$1"' sh "$pid"; then
		echo "still running 30 s after SIGTERM"
		kill -KILL "$pid"
	fi
	wait "$wrapper"
	status=$?
	pid=""
	wrapper=""
	[ "$status" -eq 0 ] || { echo "exit status $status"; tail -n 5 "$run/hookd.log"; return 1; }
}

# hello.c as hookd-dev ships it, built the way its README says.
build_plugin() {
	mkdir -p "$work/plugin" &&
		cc -shared -fPIC -Wall -Werror $(pkg-config --cflags hookd) \
			-o "$work/plugin/hello.so" \
			/usr/share/doc/hookd-dev/examples/hello/hello.c
}

load_plugin() {
	dir=$(pkg-config --variable=plugindir hookd) &&
		install -m 0644 "$work/plugin/hello.so" "$dir/hello.so" &&
		out=$(runuser -u hookd -- /usr/bin/hookd --list-plugins --plugin-dir "$dir" 2>&1)
	status=$?
	rm -f "$dir/hello.so"
	[ "$status" -eq 0 ] && printf '%s\n' "$out" | grep -q "^hello " ||
		{ printf '%s\n' "$out"; return 1; }
}

# The installed daemon, as hookd, with hello.so from plugindir routed to
# every event: the event is published with curl and hello logs it.
plugin_runs() {
	dir=$(pkg-config --variable=plugindir hookd) &&
		install -m 0644 "$work/plugin/hello.so" "$dir/hello.so" &&
		cat >"$run/hello.conf" <<EOF || return 1
server = { listen = "127.0.0.1:0"; };
storage = { url = "memory:"; };
handlers = { hi = { plugin = "hello"; }; };
routes = ( { events = ["*"]; handlers = ["hi"]; } );
EOF
	rm -f "$run/hello.pid"
	runuser -u hookd -- /bin/sh -c 'echo $$ >"$1"; exec /usr/bin/hookd -c "$2"' \
		sh "$run/hello.pid" "$run/hello.conf" 2>"$run/hello.log" &
	hwrapper=$!
	status=1
	if wait_for 5 test -s "$run/hello.pid" &&
		hpid=$(cat "$run/hello.pid") &&
		wait_for 10 grep -q ' listening .*port=' "$run/hello.log"; then
		hport=$(sed -n 's/.* listening .*port=\([0-9]*\).*/\1/p' "$run/hello.log" | head -1)
		id=$(curl -s -X POST -H 'Content-Type: application/json' \
			-d '{"type": "sdk.hello"}' "http://127.0.0.1:$hport/v4/events" |
			sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
		[ -n "$id" ] && wait_for 10 grep -q "hello: event $id of type sdk.hello" \
			"$run/hello.log" && status=0
	fi
	[ -n "$hpid" ] && kill -TERM "$hpid" 2>/dev/null
	wait "$hwrapper"
	hpid=""
	rm -f "$dir/hello.so"
	[ "$status" -eq 0 ] || { cat "$run/hello.log"; return 1; }
}

removed() {
	apt_get remove hookd-dev hookd &&
		[ ! -e /usr/bin/hookd ] && [ ! -e /usr/include/hookd/plugin.h ] &&
		[ -f /etc/hookd/hookd.conf ] && [ -d /var/lib/hookd ] ||
		{ ls -ld /usr/bin/hookd /etc/hookd/hookd.conf /var/lib/hookd; return 1; }
}

purged() {
	apt_get purge hookd &&
		[ ! -e /etc/hookd ] && [ ! -e /var/lib/hookd ] && ! present hookd hookd-dev ||
		{ ls -ld /etc/hookd /var/lib/hookd; dpkg-query -W hookd; return 1; }
}

cleanup() {
	alive && kill -KILL "$pid" 2>/dev/null
	[ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null
	[ -n "$wrapper" ] && wait "$wrapper" 2>/dev/null
	[ -n "$listener" ] && kill "$listener" 2>/dev/null && wait "$listener" 2>/dev/null
	if present hookd hookd-dev; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hookd-dev hookd >/dev/null 2>&1
	fi
	# The package keeps its user on purge; a user this test made goes.
	[ "$user_existed" = no ] && id hookd >/dev/null 2>&1 && deluser --system --quiet hookd >/dev/null 2>&1
	if [ "${HOOKD_KEEP:-}" = 1 ]; then
		echo "# work folder kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

MANPAGES=${HOOKD_MANPAGES:-$(cd "$top/docs/man" && ls | sed 's/\.[0-9][a-z]*$//')}

check "build hookd and hookd-dev with dpkg-buildpackage from a clean copy, the test suite run offline" build_packages ||
	block "the packages did not build"
grep -s '^# # ' "$work/case.out" | sed 's/^# # /# package build suite: /'
check "lintian reports no errors" run_lintian
grep -s '^[EWI]:' "$work/lintian.out" | sed 's/^/# lintian: /'
check "apt-get install ./hookd_*.deb ./hookd-dev_*.deb" \
	apt_get install "$work"/src/hookd_*.deb "$work"/src/hookd-dev_*.deb ||
	block "the packages did not install"
check "system user hookd; /var/lib/hookd is hookd:hookd, mode 0750" state_folder
check "/etc/hookd/hookd.conf is a conffile that hookd --check-config accepts" conffile
check "man -w finds $(echo $MANPAGES)" man_pages
check "systemd-analyze verify /lib/systemd/system/hookd.service" \
	systemd-analyze verify /lib/systemd/system/hookd.service
check "pkg-config's plugindir is the folder holding the installed plugins" plugindir_matches

# The installed daemon by hand, as the unit runs it.
notify=""
grep -q NOTIFY_SOCKET /usr/bin/hookd 2>/dev/null && notify=yes
check "hookd runs as user hookd and listens on a loopback port" start_daemon
notify_check "it sends READY=1 on \$NOTIFY_SOCKET" notified READY=1
daemon_check "an event published with curl is accepted (202)" publish
daemon_check "the exec handler ran for it" handled
daemon_check "the database /var/lib/hookd/hookd.db belongs to hookd" db_owned
notify_check "SIGHUP: RELOADING=1, then READY=1" reloaded
daemon_check "SIGTERM by PID: hookd stops with status 0" stop_daemon
notify_check "it sent STOPPING=1" notified STOPPING=1

check "hello.c from hookd-dev builds with pkg-config --cflags hookd" build_plugin
check "hookd --list-plugins loads it from pkg-config's plugindir" load_plugin
check "the installed hookd, as user hookd, runs it for a published event" plugin_runs
check "apt-get remove: programs gone, configuration and data kept" removed
check "apt-get purge: /etc/hookd and /var/lib/hookd gone" purged

[ "$n" -eq "$PLAN" ] || fail "the plan counted $PLAN cases, $n ran"
[ "$failed" -eq 0 ]
