#!/usr/bin/env bash
# Benchmarks ginsession against gin-contrib/sessions, scs and a raw client
# floor over one real redis-server and one memcached on loopback random
# ports, plus in-memory stores; prints markdown tables.
#
#   bash bench/run.sh                     # everything (about 6-8 minutes)
#   bash bench/run.sh -out bench/RESULTS.md
#   bash bench/run.sh -only 'ginsession/redis' -skip-load
#
# Extra arguments go to the Go program (see `go run . -h` in bench/).
# Installs redis-server and memcached with apt-get when missing (as root),
# and stops the servers it started on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v memcached >/dev/null 2>&1 || [ -x /usr/bin/memcached ] || need+=(memcached)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "run.sh: installing ${need[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "run.sh: missing ${need[*]}; install with: apt-get install -y ${need[*]}" >&2
		exit 1
	fi
fi
# Debian's packages start system services on install; this script never uses them.
command -v go >/dev/null 2>&1 || { echo "run.sh: go is required" >&2; exit 1; }

tmp="$(mktemp -d /tmp/gsbench.XXXXXX)"
redis_pid=""
mc_pid=""
cleanup() {
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
	[ -n "$mc_pid" ] && kill "$mc_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

# redis-server in the foreground of a background job, so that its pid is ours.
start_redis() {
	local port
	for _ in 1 2 3 4 5; do
		port="$(free_port)"
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$tmp" --logfile "$tmp/redis.log" --daemonize no &
		redis_pid=$!
		for _ in $(seq 100); do
			if printf 'PING\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 7 <&3" 2>/dev/null | grep -q PONG; then
				redis_addr="127.0.0.1:$port"
				return 0
			fi
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		redis_pid=""
	done
	echo "run.sh: redis-server did not start:" >&2
	tail -n 20 "$tmp/redis.log" >&2 || true
	return 1
}

start_memcached() {
	local port bin user=()
	bin="$(command -v memcached || echo /usr/bin/memcached)"
	[ "$(id -u)" = 0 ] && user=(-u root)
	for _ in 1 2 3 4 5; do
		port="$(free_port)"
		"$bin" -l 127.0.0.1 -p "$port" -U 0 -t 2 -c 4096 "${user[@]}" >"$tmp/memcached.log" 2>&1 &
		mc_pid=$!
		for _ in $(seq 100); do
			if printf 'version\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 8 <&3" 2>/dev/null | grep -q VERSION; then
				mc_addr="127.0.0.1:$port"
				return 0
			fi
			kill -0 "$mc_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$mc_pid" 2>/dev/null || true
		wait "$mc_pid" 2>/dev/null || true
		mc_pid=""
	done
	echo "run.sh: memcached did not start:" >&2
	cat "$tmp/memcached.log" >&2 || true
	return 1
}

start_redis
start_memcached
echo "run.sh: redis-server on $redis_addr, memcached on $mc_addr; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# BENCH_SOURCE=head (default) measures the committed ginsession (HEAD),
# exported to a temporary directory with this bench module beside it, so
# that edits in progress in the work tree do not break or skew the run;
# BENCH_SOURCE=worktree measures the work tree as it is (replace ../).
source_mode="${BENCH_SOURCE:-head}"
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
builddir="$here"
case "$source_mode" in
head)
	snap="$tmp/src"
	mkdir -p "$snap"
	git -C "$root" archive HEAD | tar -x -C "$snap"
	rm -rf "$snap/bench"
	mkdir "$snap/bench"
	cp "$here"/*.go "$here"/go.mod "$here"/go.sum "$snap/bench/"
	builddir="$snap/bench"
	;;
worktree)
	if [ -n "$(git -C "$root" status --porcelain -- . ':!bench' 2>/dev/null | head -1)" ]; then
		rev="$rev+worktree"
	fi
	;;
*)
	echo "run.sh: BENCH_SOURCE must be head or worktree" >&2
	exit 1
	;;
esac
tags=()
if [ ! -d "$builddir/../backends/memcachedstore" ]; then
	echo "run.sh: this ginsession has no backends/memcachedstore: its memcached rows are left out" >&2
	tags=(-tags nomemcachedstore)
fi

# bench is its own module and is not in the repository's go.work.
# -mod=mod: when the root package starts importing a new dependency, go.mod
# here is completed on the fly (in worktree mode that edits bench/go.mod;
# commit it after `go mod tidy`).
(cd "$builddir" && GOWORK=off GOFLAGS=-buildvcs=false go build -mod=mod "${tags[@]}" -o "$tmp/bench" .)
"$tmp/bench" -redis "$redis_addr" -memcached "$mc_addr" -rev "$rev" "$@"
