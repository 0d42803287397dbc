#!/bin/sh
# start-with-monitor.sh <main command> [args...]
#
# Runs the container's main command with the system-monitor agent beside it.
# The main command gets this script's stdin, stdout and stderr, so
# `docker run -i image start-with-monitor.sh cat` works as without it.
#
# The agent runs in the background and is restarted with backoff when it
# dies; it can never take the main service down (SiriusScan's start script
# killed the engine when its monitor died).
#
# TERM, INT, HUP, QUIT, USR1, USR2 and WINCH sent to this script go to the
# main command only (INT and QUIT as TERM when it ignores them, as a shell's
# background jobs start): it may handle them and keep running (reload, log
# rotation), and while it runs there is a container to monitor. This script
# never dies of them. When the main command has exited, the agent gets one
# TERM (it writes its final "exited" sample) and a KILL if it is still there
# after 5 s; the script then exits with the main command's status (128+n
# when signal n killed it).
#
# The agent is looked for beside this script first (a release directory
# holds system-monitor/system-monitor next to
# system-monitor/start-with-monitor.sh), then on PATH.
#
# A writable temporary directory is used for the fifo that prefixes agent
# output and for the agent's pid file. Without one (docker run --read-only)
# the agent still runs, its output unprefixed on stderr.
#
# Environment:
#   SYSTEM_MONITOR_BIN          agent executable (default: system-monitor beside
#                               this script if executable, else on PATH)
#   SYSTEM_MONITOR_DEV=1        run the TypeScript source with `tsx watch` instead
#   SYSTEM_MONITOR_SRC          source checkout for dev mode (default: this script's repo)
#   SYSTEM_MONITOR_LOG          append agent output to this file instead of stderr
#   SYSTEM_MONITOR_MAX_BACKOFF  longest wait between agent restarts, seconds (default 60)
#   SYSTEM_MONITOR_DISABLE=1    run the main command alone
#   TMPDIR                      where the temporary directory goes (default /tmp)
# Everything else (CONTAINER_NAME, VALKEY_*, INTERVAL_SECONDS ...) is passed
# to the agent unchanged.
#
# POSIX sh: runs under dash and busybox sh.

set -u

prog=start-with-monitor
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

if [ "$#" -eq 0 ]; then
  say "usage: $0 <main command> [args...]"
  exit 64
fi

dev=${SYSTEM_MONITOR_DEV:-0}
log=${SYSTEM_MONITOR_LOG:-}
max_backoff=${SYSTEM_MONITOR_MAX_BACKOFF:-60}
case $max_backoff in
  '' | *[!0-9]*) say "SYSTEM_MONITOR_MAX_BACKOFF must be a whole number of seconds (got '$max_backoff'); using 60"; max_backoff=60 ;;
esac
[ "$max_backoff" -ge 1 ] || max_backoff=1
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

if [ -n "${SYSTEM_MONITOR_BIN:-}" ]; then
  bin=$SYSTEM_MONITOR_BIN
  not_found="agent '$bin' not found (set SYSTEM_MONITOR_BIN)"
elif [ -f "$here/system-monitor" ] && [ -x "$here/system-monitor" ]; then
  bin=$here/system-monitor
  not_found="agent '$bin' not found (set SYSTEM_MONITOR_BIN)"
else
  bin=system-monitor
  not_found="agent not found: no executable $here/system-monitor and no system-monitor on PATH (set SYSTEM_MONITOR_BIN)"
fi

# Without a temporary directory the agent still runs: a read-only root
# filesystem must not cost the container its monitoring.
work=''
if [ "${SYSTEM_MONITOR_DISABLE:-0}" != 1 ]; then
  if ! work=$(mktemp -d "${TMPDIR:-/tmp}/start-with-monitor.XXXXXX" 2>/dev/null); then
    work=''
    if [ -n "$log" ]; then
      say "cannot create a temporary directory in ${TMPDIR:-/tmp}; the agent runs without a pid file"
    else
      say "cannot create a temporary directory in ${TMPDIR:-/tmp}; the agent runs with its output unprefixed on stderr"
    fi
  fi
fi

# The agent command, exec'd in its own background process.
agent_exec() {
  if [ "$dev" = 1 ]; then
    cd -- "${SYSTEM_MONITOR_SRC:-$here/..}" || exit 127
    exec npx tsx watch agent/src/main.ts
  fi
  exec "$bin"
}

# Prefixes each line of agent output, so it can be told apart from the main service's.
prefix_lines() {
  while IFS= read -r line || [ -n "$line" ]; do
    printf '[system-monitor] %s\n' "$line"
  done >&2
}

# Waits until process $1 has exited and sets reaped_status to its exit
# status. wait returns 128+n when a trapped signal n cuts it short, which is
# told apart from a process that died of signal n by the traps setting
# trapped=1; then wait again. The process may be gone by then (the shell
# reaps it while running the trap), but its status is still the shell's to
# report, so asking again is right either way.
reap() {
  while :; do
    trapped=0
    wait "$1"
    reaped_status=$?
    [ "$reaped_status" -gt 128 ] && [ "$trapped" = 1 ] || return 0
  done
}

# Sets proc_name, proc_ign and proc_cgt (ignored and caught signals) from
# /proc/$1/status; $1 is "self" for this shell. The read builtin, not a
# command substitution, as this runs in traps: no fork, no wait.
proc_signals() {
  proc_name=''
  proc_ign=''
  proc_cgt=''
  while IFS=': 	' read -r key value; do
    case $key in
      Name) proc_name=$value ;;
      SigIgn) proc_ign=$value ;;
      SigCgt) proc_cgt=$value; break ;;
    esac
  done 2>/dev/null <"/proc/$1/status"
}

# True when hex signal mask $1 holds signal number $2 (1 to 32).
has_signal() {
  [ -n "$1" ] || return 1
  low=${1#"${1%????????}"}
  [ $(((0x$low >> ($2 - 1)) & 1)) -eq 1 ]
}

# Waits, at most about a second, until child $1 has reset the traps it
# inherited: a signal it catches before that is dropped when it does (dash
# and busybox), so a TERM to an agent or main command that has only just
# been forked would be lost. Traps are reset in signal-number order, so
# signal $2, the highest this shell traps, is the last to go; a child with
# another name has exec'd. Linux numbers: WINCH is 28, TERM 15.
settle() {
  proc_signals self
  self_name=$proc_name
  tries=0
  while :; do
    proc_signals "$1"
    [ "$proc_name" = "$self_name" ] && has_signal "$proc_cgt" "$2" && [ "$tries" -lt 100 ] || return 0
    sleep 0.01
    tries=$((tries + 1))
  done
}

# Runs the agent until told to stop, restarting it with backoff (1 s doubling
# to max_backoff, reset after a run of a minute or more).
supervise() {
  stop=0
  apid=''
  spid=''
  rpid=''
  signalled=''
  # TERM each agent at most once: a second SIGTERM makes it exit at once,
  # before its final "exited" sample.
  stop_agent() {
    [ -z "$apid" ] || [ "$signalled" = "$apid" ] || { signalled=$apid; settle "$apid" 15; kill -TERM "$apid" 2>/dev/null; }
    [ -z "$spid" ] || { settle "$spid" 15; kill -TERM "$spid" 2>/dev/null; }
  }
  trap 'trapped=1; stop=1; stop_agent' TERM INT
  delay=1
  while [ "$stop" = 0 ]; do
    if [ "$dev" != 1 ] && ! command -v "$bin" >/dev/null 2>&1; then
      say "$not_found; the main command runs without monitoring"
      return 0
    fi
    started=$(date +%s)
    # Told to stop while getting here (the main command may exit at once):
    # an agent started now would only have to be stopped again.
    [ "$stop" = 0 ] || break
    if [ -n "$log" ]; then
      agent_exec >>"$log" 2>&1 </dev/null &
      apid=$!
    elif [ -z "$work" ]; then
      agent_exec >&2 </dev/null &
      apid=$!
    else
      rm -f "$work/out"
      mkfifo "$work/out" || { say "cannot create a fifo in $work; the main command runs without monitoring"; return 0; }
      prefix_lines <"$work/out" &
      rpid=$!
      agent_exec >"$work/out" 2>&1 </dev/null &
      apid=$!
    fi
    # A TERM that came between the fork and $! found no pid to signal.
    [ "$stop" = 0 ] || stop_agent
    [ -z "$work" ] || echo "$apid" >"$work/agent.pid"
    reap "$apid"
    rc=$reaped_status
    apid=''
    # An agent killed before it opened the fifo leaves the reader blocked in
    # open() for good, holding stderr. Opening the fifo read-write never
    # blocks on Linux; it lets the reader through, and closing it gives EOF.
    # A reader that had not reached its open() yet (a slow fork) would miss
    # one such opening, so it is repeated until the reader is gone (it has
    # printed what the agent wrote by then), for at most two seconds.
    if [ -n "$rpid" ]; then
      i=0
      while kill -0 "$rpid" 2>/dev/null && [ "$i" -lt 40 ]; do
        { true 8<>"$work/out"; } 2>/dev/null
        sleep 0.05
        i=$((i + 1))
      done
      kill "$rpid" 2>/dev/null
      wait "$rpid" 2>/dev/null
      rpid=''
    fi
    [ -z "$work" ] || rm -f "$work/agent.pid"
    [ "$stop" = 0 ] || break
    ran=$(($(date +%s) - started))
    [ "$ran" -lt 60 ] || delay=1
    say "agent exited with status $rc after ${ran} s; restarting in ${delay} s"
    sleep "$delay" &
    spid=$!
    [ "$stop" = 0 ] || stop_agent
    wait "$spid"
    spid=''
    delay=$((delay * 2))
    [ "$delay" -le "$max_backoff" ] || delay=$max_backoff
  done
  return 0
}

sup=''
main=''
main_done=0
pending=''

# shellcheck disable=SC2317 # called from the traps below
forward() {
  trapped=1
  # After the main command has exited its pid may be reused: send nothing.
  [ "$main_done" = 0 ] || return 0
  # A signal before the main command exists is held and sent once it does.
  if [ -z "$main" ]; then
    case " $pending " in
      *" $1 "*) ;;
      *) pending="$pending $1" ;;
    esac
    return 0
  fi
  settle "$main" 28
  # POSIX shells start background jobs with SIGINT and SIGQUIT ignored, so a
  # main command that keeps the default action would never see them: it
  # gets SIGTERM instead. The agent is left alone: the main command may
  # handle the signal and keep running, and then there is still a container
  # to monitor.
  if { [ "$1" = INT ] && has_signal "$proc_ign" 2; } || { [ "$1" = QUIT ] && has_signal "$proc_ign" 3; }; then
    kill -TERM "$main" 2>/dev/null
  else
    kill "-$1" "$main" 2>/dev/null
  fi
}
# Traps first: a signal that arrives while the children start is not lost
# (it would otherwise kill this shell and orphan them).
for sig in TERM INT HUP QUIT USR1 USR2 WINCH; do
  # shellcheck disable=SC2064 # expand $sig now, once per trap
  trap "forward $sig" "$sig"
done

# Background jobs get /dev/null as stdin (no job control here), so the main
# command takes the original from fd 9. Not fd 3: socket activation
# (LISTEN_FDS) hands the main command its sockets from fd 3 up. With no
# stdin at all, the main command gets /dev/null as before.
{ command exec 9<&0; } 2>/dev/null || exec 9</dev/null

if [ "${SYSTEM_MONITOR_DISABLE:-0}" != 1 ]; then
  supervise 9<&- &
  sup=$!
fi

"$@" 0<&9 9<&- &
main=$!
# Only the main command reads stdin: when it closes it, a writer sees EPIPE
# as it would without this script.
exec 0</dev/null 9<&-
held=$pending
pending=''
for sig in $held; do
  forward "$sig"
done

reap "$main"
status=$reaped_status
main_done=1

# The main command is done: stop the agent (it writes its final "exited"
# sample), give it a few seconds, then make sure nothing is left behind.
if [ -n "$sup" ]; then
  settle "$sup" 28
  kill -TERM "$sup" 2>/dev/null
  i=0
  while kill -0 "$sup" 2>/dev/null && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if kill -0 "$sup" 2>/dev/null; then
    kill -KILL "$sup" 2>/dev/null
    # Without a temporary directory there is no pid file: only the
    # supervisor dies here, and an agent that ignores TERM outlives this
    # script (as pid 1 of a container, it goes when the container does).
    [ -z "$work" ] || [ ! -s "$work/agent.pid" ] || kill -KILL "$(cat "$work/agent.pid")" 2>/dev/null
  fi
fi
[ -z "$work" ] || rm -rf "$work"
exit "$status"
