package batch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive pacing shares the quota with the account's own traffic, which
// the tool cannot see. It sees only its own calls throttled, and by then
// the quota's bucket is empty and production's calls are being throttled
// too. So it cuts the rate at the first throttled answer, and learns what
// is left from the time between throttlings:
//
//   - The first throttling of a run cuts the rate to firstCut of itself:
//     nothing yet says how much of the quota is left.
//   - Each later one cuts it to settle times the calls a second that
//     succeeded since the one before (or the rate, if lower). Between two
//     throttlings the bucket went from empty to empty, so what the tool
//     got in between is what the others left it.
//   - Throttled answers within hold of a cut are to calls sent before it:
//     they are not a new throttling.
//   - Each second without throttling raises the rate, never above --rps:
//     by fastClimb of itself until what is left has been measured, up to
//     settle times the rate the first throttling cut (that rate ran the
//     bucket dry); by slowClimb beyond that, and after. Slow probing lets
//     the bucket refill, so production is rarely throttled, yet finds the
//     room production leaves when it slows.
//   - The rate never goes below floorRPS (the AWS SDK's adaptive mode has
//     the same floor), or --rps when that is lower. Throttling that goes on
//     at the floor is not the tool's doing: the log says the quota is being
//     used elsewhere.
const (
	window    = time.Second // the period quotas are counted in
	firstCut  = 0.25
	settle    = 0.85
	hold      = 500 * time.Millisecond
	fastClimb = 0.10
	slowClimb = 0.005
	floorRPS  = 0.5
)

// margin is how far under --rps calls leave: the service counts calls as
// they arrive, and delivery jitter of a few milliseconds could otherwise put
// one more than --rps + --burst into some second at the service.
const margin = 0.01

func paced(rps float64) rate.Limit { return rate.Limit(rps * (1 - margin)) }

// pacer is a region's limiter, and, when adaptive, what steers its rate.
type pacer struct {
	region  string
	limiter *limiter

	adaptive bool
	max      float64
	floor    float64
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	current   float64
	last      time.Time // the last throttling; zero before the first
	firstFrom float64   // the rate the first throttling cut
	measured  bool      // what is left has been estimated
	hold      time.Time // throttled answers before this are to calls sent before the cut
	ok        int       // calls that succeeded since the last throttling
	since     time.Time // the current second began
	quiet     bool      // no call in it was throttled
	elsewhere bool      // the log has said the quota is used elsewhere
}

func newPacer(cfg Config, region string) *pacer {
	limit := rate.Inf
	if cfg.RPS > 0 {
		limit = paced(cfg.RPS)
	}
	return &pacer{
		region:   region,
		log:      cfg.Log,
		limiter:  newLimiter(limit, cfg.Burst),
		adaptive: cfg.Adaptive && cfg.RPS > 0,
		max:      cfg.RPS,
		floor:    math.Min(floorRPS, cfg.RPS),
		now:      cfg.Now,
		current:  cfg.RPS,
		since:    cfg.Now(),
		quiet:    true,
	}
}

// observe counts a call's outcome (nil for a success): it cuts the rate
// at a throttling and raises it after a quiet second.
func (p *pacer) observe(c *Class) {
	if !p.adaptive {
		return
	}
	throttled := c != nil && c.Throttle
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.since) >= window {
		if p.quiet && !now.Before(p.hold) {
			p.climb(now)
		}
		p.since, p.quiet = now, true
	}
	switch {
	case throttled:
		p.quiet = false
		if !now.Before(p.hold) {
			p.cut(now)
		}
	case c == nil:
		p.ok++
	}
}

// cut lowers the rate at a throttling.
func (p *pacer) cut(now time.Time) {
	next := p.current * firstCut
	attrs := []any{"region", p.region}
	if !p.last.IsZero() {
		left := float64(p.ok) / now.Sub(p.last).Seconds()
		next = settle * math.Min(p.current, left)
		p.measured = true
		attrs = append(attrs, "succeeded_rps", round1(left))
	}
	if next <= p.floor {
		next = p.floor
		if p.current <= p.floor && !p.elsewhere {
			p.elsewhere = true
			p.log.Info("throttled even at the lowest rate: the quota is being used elsewhere", "region", p.region, "rps", p.floor)
		}
	}
	if p.last.IsZero() {
		p.firstFrom = p.current
	}
	if next < p.current {
		p.log.Info("throttled: slowing down", append(attrs, "rps", round1(next))...)
		p.current = next
		p.limiter.lower(now, paced(next))
	}
	p.last, p.hold, p.ok = now, now.Add(hold), 0
}

// climb raises the rate after a quiet second.
func (p *pacer) climb(now time.Time) {
	step := slowClimb
	if !p.measured && p.current < settle*p.firstFrom {
		step = fastClimb
	}
	if next := math.Min(p.current*(1+step), p.max); next > p.current {
		p.current = next
		p.limiter.raise(now, paced(next))
	}
}

// rate is the pacer's current rate, and whether throttling ever lowered it.
func (p *pacer) rate() (current float64, slowed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, !p.last.IsZero()
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// limiter paces a region's calls on a rate.Limiter. When the rate is
// lowered, calls already waiting wait again at the new rate: the turns they
// hold were handed out at the old one, and would keep calls leaving at it
// for as long as those turns last.
type limiter struct {
	burst int

	mu      sync.Mutex
	lim     *rate.Limiter
	lowered chan struct{} // closed when the rate is lowered
}

func newLimiter(limit rate.Limit, burst int) *limiter {
	return &limiter{burst: burst, lim: rate.NewLimiter(limit, burst), lowered: make(chan struct{})}
}

// Wait blocks until the next call may go, or ctx ends.
func (l *limiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.Lock()
		lim, lowered := l.lim, l.lowered
		l.mu.Unlock()
		r := lim.Reserve()
		if !r.OK() {
			return fmt.Errorf("rate: a call exceeds the limiter's burst %d", l.burst)
		}
		d := r.Delay()
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return nil
		case <-lowered:
			t.Stop() // the turn was at the old rate: the next at the new one
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return ctx.Err()
		}
	}
}

// lower sets a lower rate. The new limiter starts empty, so the first call
// at the new rate waits its full turn.
func (l *limiter) lower(now time.Time, limit rate.Limit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lim = rate.NewLimiter(limit, l.burst)
	l.lim.ReserveN(now, l.burst)
	close(l.lowered)
	l.lowered = make(chan struct{})
}

// raise sets a higher rate; turns already handed out keep their time.
func (l *limiter) raise(now time.Time, limit rate.Limit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lim.SetLimitAt(now, limit)
}
