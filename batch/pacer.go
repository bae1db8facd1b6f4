package batch

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"
)

// Adaptive pacing: on throttling the rate drops by decreaseFactor; while
// calls succeed it climbs back by recoverPerSecond of the configured rate
// each second, never above it. A run asking more than the service grants
// settles just under what it grants instead of spending attempts.
const (
	decreaseFactor   = 0.8
	recoverPerSecond = 0.02
	minRateFraction  = 0.01
)

// pacer is a region's limiter, and, when adaptive, what steers its rate.
type pacer struct {
	region  string
	limiter *rate.Limiter

	adaptive bool
	max, min float64
	now      func() time.Time

	mu        sync.Mutex
	current   float64
	lastDrop  time.Time // calls sent before it were paced at the old rate
	lastRaise time.Time
	drops     int
}

func newPacer(cfg Config, region string) *pacer {
	limit := rate.Inf
	if cfg.RPS > 0 {
		limit = rate.Limit(cfg.RPS)
	}
	p := &pacer{
		region:   region,
		limiter:  rate.NewLimiter(limit, cfg.Burst),
		adaptive: cfg.Adaptive && cfg.RPS > 0,
		max:      cfg.RPS,
		min:      math.Max(cfg.RPS*minRateFraction, 0.1),
		now:      cfg.Now,
		current:  cfg.RPS,
	}
	p.lastRaise = p.now()
	return p
}

// observe steers the rate by the outcome of a call sent at sent.
func (p *pacer) observe(sent time.Time, err error) {
	if !p.adaptive {
		return
	}
	var api smithy.APIError
	throttled := errors.As(err, &api) && api.ErrorCode() == "TooManyRequestsException"
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	switch {
	case throttled:
		// Calls sent before the last drop went out at the old rate; their
		// throttling is no news.
		if sent.Before(p.lastDrop) {
			return
		}
		p.current = math.Max(p.current*decreaseFactor, p.min)
		p.lastDrop, p.lastRaise = now, now
		p.drops++
	case err == nil && p.current < p.max:
		p.current = math.Min(p.current+p.max*recoverPerSecond*now.Sub(p.lastRaise).Seconds(), p.max)
		p.lastRaise = now
	default:
		return
	}
	p.limiter.SetLimitAt(now, rate.Limit(p.current))
}

// rate is the pacer's current rate, 0 when unlimited.
func (p *pacer) rate() (current float64, drops int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.drops
}
