package main

import (
	"errors"
	"fmt"
	"time"
)

// Targets of the shared quota: production sees at most 1% of
// its calls throttled, and the tool gets at least 80% of what production
// leaves.
const (
	maxProductionThrottled = 0.01
	minShareOfLeftover     = 0.80
)

// shared runs the tool beside the account's production traffic on one
// quota: 25 calls/s in all (a bucket of 25), production steady at 15/s for
// 40 s, the tool at --rps 25 with its default flags (adaptive pacing on)
// and 50 ms latency. Both figures come from the same run: the tool starts
// production with its first call, and is interrupted when production stops.
func (b *bench) shared() []row {
	q := sharedQuota{Grant: 25, Production: 15, For: 40 * time.Second}
	const rps = 25
	name := "shared quota: 25/s, production 15/s for 40 s, --rps 25"
	// More rows than --rps can send in the time, so the tool is still
	// busy when production stops.
	n := int(rps * q.For.Seconds() * 1.25)
	path, err := b.manifest("shared", n)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer b.remove(path, reportPath(path))
	srv, err := startSharedFake(50*time.Millisecond, q)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer srv.stop()
	if _, err := runChildUntil(srv.over, "", b.bin, toolArgs(srv.URL, path, []string{"--rps", fmt.Sprint(rps)})...); err != nil {
		return []row{errorRow(name, err)}
	}
	st, err := srv.stop()
	if err == nil && (st.Production == nil || st.Tool == nil) {
		err = errors.New("production did not run its course: the tool stopped first")
	}
	if err != nil {
		return []row{errorRow(name, err)}
	}
	prod, tool := st.Production, st.Tool
	throttled := float64(prod.Throttled) / float64(prod.Sent)
	left := q.Grant - q.Production
	got := float64(tool.Sent-tool.Throttled) / st.Window.Seconds()
	return []row{{name + ": production throttled; mfabatch rows/s",
		fmt.Sprintf("%.1f%% (%d of %d); %.1f rows/s over %.1f s, %.0f%% of the %g/s left (%d of its calls throttled)",
			100*throttled, prod.Throttled, prod.Sent, got, st.Window.Seconds(), 100*got/left, left, tool.Throttled),
		fmt.Sprintf("≤ %.0f%%; ≥ %g rows/s", 100*maxProductionThrottled, minShareOfLeftover*left),
		check(throttled <= maxProductionThrottled && got >= minShareOfLeftover*left)}}
}
