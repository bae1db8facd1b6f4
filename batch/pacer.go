package batch

import (
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive pacing looks at each second of calls, the period quotas are
// counted in. After a second with throttling the rate drops to
// dropFactor of what succeeded that second (by at most half, and never
// below floorFraction of --rps); after a second without, it climbs by
// climbFraction of --rps, never above it. A run asking more than the
// service grants settles near what it grants instead of spending attempts.
const (
	window        = time.Second
	dropFactor    = 0.9
	climbFraction = 0.02
	floorFraction = 0.01
)

// margin is how far under --rps calls leave: the service counts calls as
// they arrive, and delivery jitter of a few milliseconds could otherwise put
// one more than --rps + --burst into some second at the service.
const margin = 0.01

func paced(rps float64) rate.Limit { return rate.Limit(rps * (1 - margin)) }

// pacer is a region's limiter, and, when adaptive, what steers its rate.
type pacer struct {
	region  string
	limiter *rate.Limiter

	adaptive bool
	max      float64
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	current   float64
	since     time.Time // the current second began
	succeeded int       // calls in the current second that succeeded
	throttled int       // and that were throttled
	slowed    bool      // the rate was ever lowered
}

func newPacer(cfg Config, region string) *pacer {
	limit := rate.Inf
	if cfg.RPS > 0 {
		limit = paced(cfg.RPS)
	}
	return &pacer{
		region:   region,
		limiter:  rate.NewLimiter(limit, cfg.Burst),
		adaptive: cfg.Adaptive && cfg.RPS > 0,
		max:      cfg.RPS,
		now:      cfg.Now,
		current:  cfg.RPS,
		since:    cfg.Now(),
	}
}

// observe counts a call's outcome (nil for a success) and, once a second
// has passed, steers the rate.
func (p *pacer) observe(c *Class) {
	if !p.adaptive {
		return
	}
	throttled := c != nil && c.Throttle
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.since) >= window {
		p.steer(now)
	}
	switch {
	case throttled:
		p.throttled++
	case c == nil:
		p.succeeded++
	}
}

// steer ends the current second: down after throttling, else up.
func (p *pacer) steer(now time.Time) {
	next := p.current
	if p.throttled > 0 {
		next = math.Max(math.Min(p.current, float64(p.succeeded))*dropFactor, p.current/2)
		p.slowed = true
	} else {
		next += p.max * climbFraction
	}
	next = math.Min(math.Max(next, p.max*floorFraction), p.max)
	if next != p.current {
		if next < p.current {
			p.log.Info("throttled: slowing down", "region", p.region, "throttled_calls", p.throttled, "succeeded_calls", p.succeeded, "rps", math.Round(next*10)/10)
		}
		p.current = next
		p.limiter.SetLimitAt(now, paced(next))
	}
	p.since, p.succeeded, p.throttled = now, 0, 0
}

// rate is the pacer's current rate, and whether throttling ever lowered it.
func (p *pacer) rate() (current float64, slowed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.slowed
}
