# Shell helpers for test scripts run by the guest's /init (source it: . /lib/tslirp/lib.sh).
#
#   check NAME SECONDS 'SHELL SNIPPET'
#     runs the snippet in `sh -c` under `timeout`, its stdout and stderr framed by
#     "@@tslirp check-begin NAME" and "@@tslirp check-end NAME rc=N" (rc 143 = timed out).
#     NAME is one word. The host side parses these markers (test/support/guest-console.ts).
check() {
  _name=$1
  _secs=$2
  echo "@@tslirp check-begin $_name"
  timeout "$_secs" sh -c "$3" </dev/null 2>&1
  _rc=$?
  # Leading newline: the snippet's output may lack a final one; the parser drops the blank.
  echo
  echo "@@tslirp check-end $_name rc=$_rc"
}
