package cognitotest

import (
	"context"
	"testing"
)

// The server's calls and another client's draw on the one bucket: what
// one takes, the other is refused.
func TestQuotaIsShared(t *testing.T) {
	q := NewQuota(0.001, 3) // three calls, and no more for the test's length
	if got := q.Steady(context.Background(), 1000, 2); got != (Traffic{Sent: 2}) {
		t.Fatalf("production on a full bucket got %+v, want 2 sent, none throttled", got)
	}
	if r := q.Decide(Call{}); r.Fault != None {
		t.Fatalf("the third call got %v, want success", r.Fault)
	}
	if r := q.Decide(Call{}); r.Fault != Throttle {
		t.Fatalf("the fourth call got %v, want Throttle", r.Fault)
	}
	if got := q.Steady(context.Background(), 1000, 2); got != (Traffic{Sent: 2, Throttled: 2}) {
		t.Fatalf("production on an empty bucket got %+v, want 2 sent, 2 throttled", got)
	}
}

// Steady stops early when its context ends.
func TestSteadyStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := NewQuota(1, 1).Steady(ctx, 0.001, 5); got != (Traffic{Sent: 1}) {
		t.Fatalf("got %+v, want the first call only", got)
	}
}
