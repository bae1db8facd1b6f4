package batch

import (
	"context"
	"math"
	"sync"
	"time"
)

// Bounds of the automatic worker count.
const (
	MinAutoWorkers = 4
	MaxAutoWorkers = 512
	// unlimitedWorkers is the automatic count when the rate is unlimited:
	// Little's law has no rate to work from.
	unlimitedWorkers = 32
	// headroom over Little's law, for latency that varies.
	headroom = 1.5
	// startLatency is the latency assumed before any is seen, so that the
	// rate holds from the first second: Cognito answers in about this.
	startLatency = 100 * time.Millisecond
)

// pool bounds how many of a region's rows are in flight at once: its
// workers. With Config.Workers set the bound is fixed; with auto it starts
// as the rate needs at a typical latency and grows, by Little's law, to
// keep enough calls in flight to sustain the configured rate at the
// latency actually seen.
type pool struct {
	auto   bool
	rps    float64
	perRow int           // calls a row makes, one after another
	slots  chan struct{} // a slot for each row that may be in flight now

	mu      sync.Mutex
	size    int
	latency float64 // moving average of seconds per call
}

// newPool makes a region's pool: each region is a quota of its own, with
// its own workers.
func newPool(cfg Config) *pool {
	n := startWorkers(cfg)
	rps, perRow := cfg.calls()
	p := &pool{size: n, auto: cfg.Workers == 0, rps: rps, perRow: perRow, slots: make(chan struct{}, max(n, MaxAutoWorkers))}
	for range n {
		p.slots <- struct{}{}
	}
	return p
}

// acquire takes a slot for a row, waiting for one; false when ctx ends
// first.
func (p *pool) acquire(ctx context.Context) bool {
	select {
	case <-p.slots:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives back a row's slot.
func (p *pool) release() { p.slots <- struct{}{} }

// startWorkers is how many workers a region starts with: Config.Workers,
// or with auto as many as the rate needs at a typical latency.
func startWorkers(cfg Config) int {
	rps, perRow := cfg.calls()
	switch {
	case cfg.Workers > 0:
		return cfg.Workers
	case rps == 0:
		return unlimitedWorkers
	}
	return WorkersFor(rps, time.Duration(perRow)*startLatency)
}

// observe takes a call's latency, and grows the pool to what the rate
// needs at the latency seen.
func (p *pool) observe(latency time.Duration) {
	if !p.auto || p.rps == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	const weight = 0.1
	if p.latency == 0 {
		p.latency = latency.Seconds()
	} else {
		p.latency += weight * (latency.Seconds() - p.latency)
	}
	want := WorkersFor(p.rps, time.Duration(float64(p.perRow)*p.latency*float64(time.Second)))
	for ; p.size < want; p.size++ {
		p.slots <- struct{}{}
	}
}

// WorkersFor is how many calls must be in flight to sustain rps at this
// latency (Little's law), with headroom, within the automatic bounds.
func WorkersFor(rps float64, latency time.Duration) int {
	n := int(math.Ceil(rps*latency.Seconds()*headroom)) + 1
	return min(max(n, MinAutoWorkers), MaxAutoWorkers)
}

// workers is the pool's size now.
func (p *pool) workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}
