package cognitotest

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Quota is an account's quota for one category of calls, such as
// UserUpdate: a token bucket that every client of the account draws on.
// The server's calls draw on it through Decide, another client's (the
// account's own production traffic) through Steady.
type Quota struct {
	bucket *rate.Limiter
}

// NewQuota returns a quota granting rps calls a second, with a bucket of
// burst calls that starts full.
func NewQuota(rps float64, burst int) *Quota {
	return &Quota{bucket: rate.NewLimiter(rate.Limit(rps), burst)}
}

// Decide lets a call through when the quota has room and throttles it
// otherwise, as the service does past an account's quota: a decider for
// NewServer.
func (q *Quota) Decide(Call) Reply {
	if q.bucket.Allow() {
		return Reply{}
	}
	return Reply{Fault: Throttle}
}

// Traffic is what a client's calls got from a quota.
type Traffic struct {
	Sent, Throttled int
}

// Steady makes n calls on the quota at rps calls a second, evenly spaced,
// as an account's production sign-ins do, and returns what they got. It
// stops early when ctx ends.
func (q *Quota) Steady(ctx context.Context, rps float64, n int) Traffic {
	var t Traffic
	tick := time.NewTicker(time.Duration(float64(time.Second) / rps))
	defer tick.Stop()
	for i := range n {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return t
			}
		}
		t.Sent++
		if !q.bucket.Allow() {
			t.Throttled++
		}
	}
	return t
}
