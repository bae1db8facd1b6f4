package batch_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// callLog keeps what Config.OnCall hears, from the workers at once.
type callLog struct {
	mu    sync.Mutex
	calls []batch.CallStat
}

func (l *callLog) add(c batch.CallStat) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// OnCall hears of every call, retries included, with its region, whether
// it was throttled or a retry, and the region's rate as the call left it.
func TestOnCallHearsEveryCall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rps      float64
		adaptive bool
		limit    func(limit float64) bool // a call's limit is right
	}{
		{"fixed", 1000, false, func(l float64) bool { return l == 1000 }},
		{"unlimited", 0, false, func(l float64) bool { return l == 0 }},
		// The first call is throttled, which cuts the adaptive rate at once.
		{"adaptive", 1000, true, func(l float64) bool { return l > 0 && l < 1000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, client := serve(t, cognitotest.FailAttempts(2, cognitotest.Throttle))
			m, _ := manifest(t, 5, nil)
			log := &callLog{}
			cfg := fastConfig()
			cfg.RPS, cfg.Adaptive, cfg.Workers, cfg.OnCall = tc.rps, tc.adaptive, 1, log.add
			sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, &collect{})
			if err != nil {
				t.Fatal(err)
			}
			if len(log.calls) != len(srv.Calls()) || len(log.calls) != sum.Attempts || sum.Attempts != 15 {
				t.Fatalf("OnCall heard %d calls, the server got %d, the summary counts %d; want 15", len(log.calls), len(srv.Calls()), sum.Attempts)
			}
			throttled, retries := 0, 0
			for i, c := range log.calls {
				if c.Op != batch.OpWrite || c.Region != "us-east-1" || c.Duration <= 0 {
					t.Errorf("call %d: %+v, want a write to us-east-1 that took some time", i, c)
				}
				if c.Throttled {
					throttled++
				}
				if c.Retry {
					retries++
				}
				if !tc.limit(c.Limit) {
					t.Errorf("call %d: limit %v, wrong for --rps %v (adaptive %v)", i, c.Limit, tc.rps, tc.adaptive)
				}
			}
			if throttled != 10 || retries != 10 || sum.Throttled != throttled {
				t.Errorf("%d calls throttled (summary %d), %d retries; want 10 and 10", throttled, sum.Throttled, retries)
			}
		})
	}
}
