package batch_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// TestSoakFaultMix sends 10,000 rows through the real SDK client to a fake
// Cognito that throttles, fails, resets or stalls 28% of calls, and checks
// what a user would check in the report and the service's logs: every row
// reported once and succeeded, the report's attempts are the calls the
// service got, the rate limit held for retries too, the faults really
// happened, and nothing outlived the run.
func TestSoakFaultMix(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: 10,000 rows")
	}
	// Registered first, so it runs last: after the server and the
	// manifest are closed.
	t.Cleanup(func() { goleak.VerifyNone(t) })

	const (
		rows    = 10000
		workers = 64
	)
	inject := map[cognitotest.Fault]float64{
		cognitotest.Throttle: 0.20,
		cognitotest.Internal: 0.05,
		cognitotest.Reset:    0.02,
		cognitotest.Stall:    0.01, // stalls forever: the attempt times out
	}
	// Mix draws from the seed, the token and the attempt; tokens are
	// random, so each run gets a fresh draw, and decide(call) tells what
	// a recorded call got.
	decide := cognitotest.Mix(20240611, inject)
	srv := cognitotest.NewServer(decide)
	t.Cleanup(srv.Close)
	sdk, err := batch.NewClient(awsConfig(), srv.URL, workers)
	if err != nil {
		t.Fatal(err)
	}
	// The real SDK client, with a log of the calls the engine made and how
	// they ended. A call that times out before the server has read it is
	// an attempt the server never sees: the server's log alone cannot
	// tell a lost call from a miscounted one.
	client := &fakeClient{SetUserMFAPreferenceFn: sdk.SetUserMFAPreference}
	m, tokens := manifest(t, rows, nil)

	cfg := batch.Config{
		Workers: workers,
		// About 1.39 calls per row (1/0.72): at 2000/s the limiter binds
		// for about 7 s when the machine keeps up.
		RPS:   2000,
		Burst: 20,
		// A stall lasts until the client gives up, so every stall is a
		// timeout. The limit must be far above an answered call's latency:
		// under -race with another busy process on two cores, answered
		// calls took up to 300 ms (99.9th percentile 225 ms), so at 200 ms
		// they timed out too, were sent again, and some never reached the
		// server (see tally). At 1 s about 20 workers wait out a stall at
		// any moment (1% of 2000 calls/s), and the run's tail grows by
		// about a second.
		Timeout: time.Second,
		// 28% of attempts fail, independently, so a row exhausts its
		// attempts with probability 0.28^n: 0.28^12 ≈ 2.3e-7 per row
		// would still fail one run in about 430 (10,000 rows), too flaky
		// for CI; 0.28^20 ≈ 8.7e-12 per row, 8.7e-8 per run.
		MaxAttempts: 20,
		BackoffBase: time.Millisecond,
		BackoffMax:  10 * time.Millisecond,
	}
	// A stuck row must fail the test, not hang it until go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sink := &collect{}
	start := time.Now()
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(ctx, m, sink)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("run: %v (after %v; rows per status %v)", err, elapsed, sum.Statuses)
	}
	// Closing the server drops the client's idle keep-alive connections,
	// so the transport's read and write loops end on their own and goleak
	// needs no exceptions. The client's transport is private to NewClient,
	// so the client side cannot close them itself.
	srv.Close()
	calls := srv.Calls()

	// What the engine made, in all and per token fingerprint: calls, and
	// calls that timed out.
	logged := client.Calls()
	made, timedOut := len(logged), 0
	madeFor, timedOutFor := map[string]int{}, map[string]int{}
	for _, c := range logged {
		madeFor[c.Token]++
		if errors.Is(c.Err, context.DeadlineExceeded) {
			timedOut++
			timedOutFor[c.Token]++
		}
	}

	// What the service saw, per token: calls, and the last one.
	row := make(map[string]int, rows) // token to row number
	for i, tok := range tokens {
		row[tok] = i + 1
	}
	perRow := make([]int, rows+1)
	last := make([]cognitotest.Call, rows+1)
	faults := map[cognitotest.Fault]int{}
	retriedSuccess := 0 // answered with success, yet called again: the client timed out
	for _, c := range calls {
		n, ok := row[c.Token]
		if !ok || c.Op != "SetUserMFAPreference" {
			t.Fatalf("call %d: op %q for a token not in the manifest", c.N, c.Op)
		}
		if last[n].N != 0 && decide(last[n]).Fault == cognitotest.None {
			retriedSuccess++
		}
		perRow[n]++
		last[n] = c
		faults[decide(c).Fault]++
	}

	// A broken run would list thousands of rows; the first few tell.
	const show = 20
	bad := 0
	badRow := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= show {
			t.Errorf(format, args...)
		}
	}
	attempts, most, longest := 0, 0, time.Duration(0)
	for _, r := range sink.byRow(t, rows) {
		attempts += r.Attempts
		most = max(most, r.Attempts)
		longest = max(longest, r.Duration)
		if r.Status != batch.StatusSucceeded {
			badRow("row %d: %s %s %q after %d attempts", r.Row, r.Status, r.ErrorCode, r.ErrorMessage, r.Attempts)
			continue
		}
		// The report's attempts are the calls the engine made, and the
		// calls the server got, less any that timed out before it read
		// them (none, unless the machine is starved).
		tok := tokens[r.Row-1]
		fp := batch.Fingerprint(batch.Token(tok))
		if lost := madeFor[fp] - perRow[r.Row]; r.Attempts != madeFor[fp] || lost < 0 || lost > timedOutFor[fp] {
			badRow("row %d: report says %d attempts; the engine made %d calls (%d timed out), the server got %d",
				r.Row, r.Attempts, madeFor[fp], timedOutFor[fp], perRow[r.Row])
		}
		// The success reported is the server's answer to one of the
		// row's calls, usually the last (a call that timed out may arrive
		// after its retry).
		var n int
		if _, err := fmt.Sscanf(r.RequestID, "req-%d", &n); err != nil || n < 1 || n > len(calls) ||
			calls[n-1].Token != tok || decide(calls[n-1]).Fault != cognitotest.None || r.HTTPStatus != 200 || r.ErrorCode != "" {
			badRow("row %d: http %d request id %q code %q: not the server's success for this row (its last call was %d, %v)",
				r.Row, r.HTTPStatus, r.RequestID, r.ErrorCode, last[r.Row].N, decide(last[r.Row]).Fault)
		}
	}
	if bad > show {
		t.Errorf("... and %d more", bad-show)
	}
	if attempts != made || sum.Attempts != made {
		t.Errorf("report counts %d attempts, summary %d; the engine made %d calls", attempts, sum.Attempts, made)
	}
	// Exact unless calls were lost to timeouts; each loss is logged.
	if lost := made - len(calls); lost < 0 || lost > timedOut {
		t.Errorf("the engine made %d calls (%d timed out), the server got %d", made, timedOut, len(calls))
	} else if lost > 0 {
		t.Logf("%d calls timed out before the server read them: the machine is starved", lost)
	}
	// Every stall ended in a timeout, which was retried.
	if timedOut < faults[cognitotest.Stall] {
		t.Errorf("%d calls stalled but only %d timed out", faults[cognitotest.Stall], timedOut)
	}
	if sum.Rows != rows || sum.Statuses[batch.StatusSucceeded] != rows || !sum.OK() {
		t.Errorf("summary: %d rows, statuses %v, OK %v; want %d succeeded", sum.Rows, sum.Statuses, sum.OK(), rows)
	}

	// Every attempt, retries included, waits on the limiter. The limiter
	// lets at most Burst + RPS·d calls start in any d, but a call reaches
	// the server after a delay that varies (scheduling on two busy cores,
	// dialling after a reset): at 2000/s each millisecond of spread moves
	// two calls into a window. On a shared two-core machine the busiest
	// second at the server held up to 2064 calls (44 over: 22 ms of
	// spread), while the calls' starts at the client never exceeded 2030,
	// so the window allows 100 ms of spread (2220 calls). Retries that
	// skipped the limiter put 2600 to 2900 calls in the busiest second
	// here; hidden retries (the SDK's own) also break the per-row attempt
	// counts above.
	const spread = 100 * time.Millisecond
	if most, limit := srv.MaxInWindow(time.Second), cfg.Burst+int(cfg.RPS*(time.Second+spread).Seconds()); most > limit {
		t.Errorf("%d calls within one second at the server; limit is %v/s with burst %d (%d allowing %v of delivery spread)", most, cfg.RPS, cfg.Burst, limit, spread)
	}
	// Over the whole run the spread hardly matters: the calls cannot have
	// come faster than the limiter's rate after its first burst, give or
	// take the first call's delivery (its connection is dialled).
	if span, least := calls[len(calls)-1].At.Sub(calls[0].At), time.Duration(float64(len(calls)-cfg.Burst)/cfg.RPS*float64(time.Second))-50*time.Millisecond; span < least {
		t.Errorf("%d calls in %v at the server; at %v/s with burst %d they take at least %v", len(calls), span, cfg.RPS, cfg.Burst, least)
	}

	// A machine too slow to reach the rate cannot exceed it either: say
	// so when the middle 80% of the calls came well below it.
	lo, hi := len(calls)/10, len(calls)*9/10
	if rate := float64(hi-lo) / calls[hi].At.Sub(calls[lo].At).Seconds(); rate < 0.9*cfg.RPS {
		t.Logf("the calls came at %.0f/s, below the %v/s limit: this run could not test the limiter", rate, cfg.RPS)
	}

	// The faults really happened, about as often as injected: each share
	// within 6 standard deviations of its probability.
	for _, f := range []cognitotest.Fault{cognitotest.Throttle, cognitotest.Internal, cognitotest.Reset, cognitotest.Stall} {
		p, share := inject[f], float64(faults[f])/float64(len(calls))
		if tol := 6 * math.Sqrt(p*(1-p)/float64(len(calls))); math.Abs(share-p) > tol {
			t.Errorf("%v: %d of %d calls (%.2f%%), injected %.0f%% ± %.2f%%", f, faults[f], len(calls), 100*share, 100*p, 100*tol)
		}
	}

	for _, f := range slices.Sorted(maps.Keys(faults)) {
		t.Logf("%-9v %5d calls  %5.2f%%", f, faults[f], 100*float64(faults[f])/float64(len(calls)))
	}
	t.Logf("%d rows, %d calls in %v (%.0f calls/s); busiest second %d calls; most attempts for a row %d; longest row %v; timeouts %d, of answered calls %d",
		rows, len(calls), elapsed.Round(time.Millisecond), float64(len(calls))/elapsed.Seconds(), srv.MaxInWindow(time.Second), most, longest.Round(time.Millisecond), timedOut, retriedSuccess)
}
