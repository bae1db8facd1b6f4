package batch_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

func TestWorkersFor(t *testing.T) {
	for _, tc := range []struct {
		rps     float64
		latency time.Duration
		want    int
	}{
		{25, 100 * time.Millisecond, 5},   // 25 × 0.1 × 1.5 = 3.75 → 4, +1
		{100, 200 * time.Millisecond, 31}, // 30 + 1
		{500, 50 * time.Millisecond, 39},  // 37.5 → 38, +1
		{10, time.Millisecond, batch.MinAutoWorkers},
		{5000, 2 * time.Second, batch.MaxAutoWorkers},
	} {
		if got := batch.WorkersFor(tc.rps, tc.latency); got != tc.want {
			t.Errorf("WorkersFor(%v, %v) = %d, want %d", tc.rps, tc.latency, got, tc.want)
		}
	}
}

// With --workers auto the pool starts with what the rate needs at 100 ms
// and grows to what it needs at the latency seen: 200 calls/s at 300 ms
// need three times as many calls in flight.
func TestAutoWorkersGrowWithLatency(t *testing.T) {
	const rps, latency = 200, 300 * time.Millisecond
	first, want := batch.WorkersFor(rps, 100*time.Millisecond), batch.WorkersFor(rps, latency)
	if want <= first {
		t.Fatalf("the pool starts with %d workers and needs %d: nothing to grow", first, want)
	}
	m, _ := manifest(t, 300, nil)
	cfg := fastConfig()
	cfg.Workers, cfg.RPS, cfg.Burst = 0, rps, 5
	sink := &collect{}
	sum, err := (&batch.Runner{Client: &fakeClient{SetUserMFAPreferenceFn: answerAfter(latency)}, Config: cfg}).Run(context.Background(), m, sink)
	if err != nil {
		t.Fatal(err)
	}
	sink.byRow(t, 300)
	if sum.Workers < want || sum.Workers > batch.MaxAutoWorkers {
		t.Errorf("ended with %d workers (started with %d), want at least %d", sum.Workers, first, want)
	}

	// A fixed count stays fixed.
	m, _ = manifest(t, 50, nil)
	cfg.Workers = 3
	sum, err = (&batch.Runner{Client: &fakeClient{SetUserMFAPreferenceFn: answerAfter(10 * time.Millisecond)}, Config: cfg}).Run(context.Background(), m, &collect{})
	if err != nil || sum.Workers != 3 {
		t.Errorf("err=%v workers=%d, want 3", err, sum.Workers)
	}
}
