# Shell helpers for test scripts run by the guest's /init (source it: . /lib/tslirp/lib.sh).
#
#   check NAME SECONDS 'SHELL SNIPPET'
#     runs the snippet in `sh -c`, its stdout and stderr framed by
#     "@@tslirp check-begin NAME" and "@@tslirp check-end NAME rc=N". NAME is one word.
#     After SECONDS the snippet's whole process group is killed (rc 143 = timed out), so a
#     hung wget or nc cannot print into the next check. The host side parses these markers
#     (test/support/guest-console.ts).
check() {
  _name=$1
  _secs=$2
  echo "@@tslirp check-begin $_name"
  # A background job of a non-interactive shell is no group leader, so setsid needs no fork:
  # $! is the new session's (and process group's) id.
  setsid sh -c "$3" </dev/null 2>&1 &
  _pid=$!
  (
    sleep "$_secs"
    kill -TERM -"$_pid" 2>/dev/null
    sleep 2
    kill -KILL -"$_pid" 2>/dev/null
  ) &
  _watchdog=$!
  wait "$_pid"
  _rc=$?
  kill "$_watchdog" 2>/dev/null
  # Leading newline: the snippet's output may lack a final one; the parser drops the blank.
  echo
  echo "@@tslirp check-end $_name rc=$_rc"
}
