#!/bin/sh
# cron.sh: run mfabatch unattended, from cron or any scheduler.
#
# It runs the manifest once; if rows are left to do (exit 1, or 3 for a
# halt), it waits and resumes from the last report, a couple of times, so
# that only the rows not yet done are sent again. Every run keeps its report,
# summary and log under a directory named for the day. It exits with the last
# run's exit code, so the scheduler sees a failure when rows are still left.
# It does not resume after exit 2 (nothing was sent), 4 (the report or the
# summary could not be written: see below) or a stop request (129, 130, 143).
#
#   0 2 * * *  /srv/mfa/cron.sh /srv/mfa/manifest.csv || echo "exit $?" | mail -s "MFA rollout needs a look" ops@example.com
#
# Settings, from the environment:
#   MFABATCH             the binary (default: mfabatch on PATH)
#   MFABATCH_REPORTS     where the dated report directories go (default: /srv/mfa/reports)
#   MFABATCH_RPS         requests per second (default: 10; the quota is per
#                        account and region, shared with production sign-ins)
#   MFABATCH_RETRIES     resumes after the first run (default: 2)
#   MFABATCH_RETRY_WAIT  seconds between runs (default: 120)
#   MFABATCH_ARGS        more run flags, e.g. "--max-failures 5%"
#
# Access tokens expire (after an hour by default): keep the retries within
# the tokens' life, and give each night a freshly exported manifest. An
# admin-mode manifest (usernames) does not go stale: give the job AWS
# credentials (AWS_PROFILE, or the instance's role) and, for a manifest
# with no user_pool_id column, MFABATCH_ARGS="--user-pool-id eu-west-1_AbC123".
set -u

manifest=${1:?usage: cron.sh MANIFEST}
bin=${MFABATCH:-mfabatch}
reports=${MFABATCH_REPORTS:-/srv/mfa/reports}
rps=${MFABATCH_RPS:-10}
retries=${MFABATCH_RETRIES:-2}
retry_wait=${MFABATCH_RETRY_WAIT:-120}
extra=${MFABATCH_ARGS:-}

# Reports and logs name users: keep them to this user.
umask 077
dir=$reports/$(date -u +%Y-%m-%d)
mkdir -p "$dir" || exit 2
stamp=$(date -u +%H%M%SZ)

# One rollout at a time: a run that outlasts the cron interval must not
# race the next one over the same users.
lock=$reports/.lock
if ! mkdir "$lock" 2>/dev/null; then
	echo "cron.sh: another rollout holds $lock (remove it if none is running)" >&2
	exit 75 # EX_TEMPFAIL
fi
trap 'rmdir "$lock"' EXIT
# A stop request (SIGTERM, Ctrl-C, a hang-up) ends the retries; mfabatch
# itself finishes the calls in flight and reports the rest not_attempted.
stopping=
trap 'stopping=1' HUP INT TERM

run=1
prev=
while :; do
	base=$dir/$stamp-run$run
	set -- --rps "$rps" --report "$base.csv" --summary "$base.json"
	if [ -n "$prev" ]; then
		set -- "$@" --resume "$prev"
	fi
	# $extra is split into words on purpose.
	# shellcheck disable=SC2086
	"$bin" run "$@" $extra "$manifest" 2>>"$base.log"
	code=$?
	echo "cron.sh: run $run exited $code; report $base.csv, summary and log beside it" >&2

	case $code in
	0) break ;;               # every row done
	2) break ;;               # nothing was sent: fix the manifest or flags; a retry cannot help
	129 | 130 | 143) break ;; # stopped on request (SIGHUP, SIGINT, SIGTERM)
	4)
		# Calls were made, but the report or the summary could not be
		# written (a full disk, a lost mount): the log's last line says how
		# many rows were sent without a record. Their users' settings did
		# change; a resume from this report would send those rows again,
		# which sets the same settings again and spends quota. A retry onto
		# the same disk would fail the same way: a person looks first.
		echo "cron.sh: run $run could not write its report or summary; see $base.log, free the space, then resume from $base.csv by hand" >&2
		break
		;;
	esac
	# 1 (rows failed, were invalid or not attempted) or 3 (halted): resume,
	# if allowed, and if some row may yet succeed: invalid rows stay invalid.
	if [ -n "$stopping" ] || [ "$run" -gt "$retries" ]; then
		break
	fi
	if ! grep -q -e '"failed"' -e '"not_attempted"' "$base.json" 2>/dev/null; then
		echo "cron.sh: only invalid rows are left: fix the manifest" >&2
		break
	fi
	prev=$base.csv
	run=$((run + 1))
	sleep "$retry_wait"
	if [ -n "$stopping" ]; then
		run=$((run - 1))
		break
	fi
done

if [ "$code" -ne 0 ]; then
	echo "cron.sh: rollout not complete (exit $code); the last summary:" >&2
	tail -n 20 "$dir/$stamp-run$run.log" >&2
fi
exit "$code"
