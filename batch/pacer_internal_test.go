package batch

import (
	"bytes"
	"container/heap"
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// scenario is a quota and the traffic on it, played against a pacer in
// virtual time: nothing here sleeps, and a scenario with the same seed
// gives the same figures on every run.
type scenario struct {
	rps        float64       // --rps
	workers    int           // the tool's calls in flight or waiting their turn
	latency    time.Duration // of every answer
	seconds    int           // how long to play
	grant      float64       // the quota: calls a second for every client, with a bucket as large; 0 is none
	production float64       // another client's steady calls a second on the same quota
	random     float64       // the share of the tool's calls throttled whatever the rate
	seed       uint64        // for arrival jitter and random throttling
}

// outcome is what the scenario's clients got.
type outcome struct {
	toolOK, toolThrottled int
	prodOK, prodThrottled int
	rates                 []float64 // the pacer's rate at the end of each second
	log                   string
}

func (o outcome) prodThrottledShare() float64 {
	return float64(o.prodThrottled) / float64(max(o.prodOK+o.prodThrottled, 1))
}

func (o outcome) toolThrottledShare() float64 {
	return float64(o.toolThrottled) / float64(max(o.toolOK+o.toolThrottled, 1))
}

// event is a worker's turn to send (worker ≥ 0), its call reaching the
// quota (arrive) or its answer (answer); worker -1 is production's call.
type event struct {
	at        time.Time
	worker    int
	arrive    bool
	answer    bool
	throttled bool
	sent      time.Time
	gen       int // a turn is stale when the worker has waited again since
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at.Before(e[j].at) }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// sim is a scenario being played. Each worker waits its turn at the
// pacer's limiter, sends, and hands the answer to observe, as
// worker.process does; a wait under way when the rate is lowered starts
// again, as limiter.Wait does. Arrivals have up to 10 ms of jitter.
type sim struct {
	scenario
	start, now time.Time
	p          *pacer
	quota      *rate.Limiter
	rnd        *rand.Rand
	q          events
	turn       []time.Time // a waiting worker's turn; zero when it is not waiting
	gen        []int
	lowered    chan struct{} // the limiter's, when the waits were taken
	prodCalls  int
	out        outcome
}

func (s scenario) play() outcome {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &sim{scenario: s, start: start, now: start, rnd: rand.New(rand.NewPCG(1, s.seed)),
		turn: make([]time.Time, s.workers), gen: make([]int, s.workers)}
	var log bytes.Buffer
	m.p = newPacer(Config{RPS: s.rps, Burst: 1, Adaptive: true, Now: func() time.Time { return m.now }}, "us-east-1")
	m.p.log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	m.lowered = m.p.limiter.lowered
	if s.grant > 0 {
		m.quota = rate.NewLimiter(rate.Limit(s.grant), int(s.grant))
	}
	for w := range s.workers {
		m.wait(w)
	}
	if s.production > 0 {
		heap.Push(&m.q, event{at: m.prodAt(0), worker: -1})
	}
	end := start.Add(time.Duration(s.seconds) * time.Second)
	for m.q.Len() > 0 && m.q[0].at.Before(end) {
		e := heap.Pop(&m.q).(event)
		for len(m.out.rates) < int(e.at.Sub(start)/time.Second) {
			m.out.rates = append(m.out.rates, m.p.current)
		}
		m.now = e.at
		m.step(e)
	}
	m.out.log = log.String()
	return m.out
}

func (m *sim) step(e event) {
	switch {
	case e.worker < 0:
		if m.refused() {
			m.out.prodThrottled++
		} else {
			m.out.prodOK++
		}
		m.prodCalls++
		heap.Push(&m.q, event{at: m.prodAt(m.prodCalls), worker: -1})
	case e.arrive:
		throttled := m.refused() || m.rnd.Float64() < m.random
		heap.Push(&m.q, event{at: e.sent.Add(m.latency), worker: e.worker, answer: true, throttled: throttled})
	case e.answer:
		m.answer(e)
	case e.gen == m.gen[e.worker]: // the worker's turn: send
		m.turn[e.worker] = time.Time{}
		heap.Push(&m.q, event{at: m.now.Add(m.jitter()), worker: e.worker, arrive: true, sent: m.now})
	}
}

// answer hands a call's answer to the pacer; if that lowered the rate,
// the workers waiting their turn wait again, in the order they were in.
func (m *sim) answer(e event) {
	var c *Class
	if e.throttled {
		c = &Class{Code: "TooManyRequestsException", Throttle: true}
		m.out.toolThrottled++
	} else {
		m.out.toolOK++
	}
	m.p.observe(c)
	if m.p.limiter.lowered != m.lowered {
		m.lowered = m.p.limiter.lowered
		var waiting []int
		for w, t := range m.turn {
			if !t.IsZero() {
				waiting = append(waiting, w)
			}
		}
		slices.SortFunc(waiting, func(a, b int) int { return m.turn[a].Compare(m.turn[b]) })
		for _, w := range waiting {
			m.wait(w)
		}
	}
	m.wait(e.worker)
}

// wait takes the worker's next turn at the limiter.
func (m *sim) wait(w int) {
	m.turn[w] = m.now.Add(m.p.limiter.lim.ReserveN(m.now, 1).DelayFrom(m.now))
	m.gen[w]++
	heap.Push(&m.q, event{at: m.turn[w], worker: w, gen: m.gen[w]})
}

func (m *sim) refused() bool { return m.quota != nil && !m.quota.AllowN(m.now, 1) }

func (m *sim) jitter() time.Duration {
	return time.Duration(m.rnd.Float64() * float64(10*time.Millisecond))
}

// prodAt is when production's i-th call arrives.
func (m *sim) prodAt(i int) time.Time {
	return m.start.Add(time.Duration(float64(i)*float64(time.Second)/m.production) + m.jitter())
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// The shared-quota case: 25 calls/s in all, production steady
// at 15/s for 40 s, the tool at --rps 25. Production keeps all but 1% of
// its calls, and the tool gets at least 80% of the 10/s production leaves,
// whatever the jitter. With production at 5/s or 10/s the same holds on
// average.
func TestPacerSharesTheQuotaWithProduction(t *testing.T) {
	for _, production := range []float64{5, 10, 15} {
		left := 25 - production
		var throttled, got float64
		const seeds = 10
		for seed := range uint64(seeds) {
			o := scenario{rps: 25, workers: 5, latency: 50 * time.Millisecond, seconds: 40, grant: 25, production: production, seed: seed}.play()
			throttled += o.prodThrottledShare() / seeds
			got += float64(o.toolOK) / 40 / seeds
			if production != 15 {
				continue
			}
			if share, got := o.prodThrottledShare(), float64(o.toolOK)/40; share > 0.01 || got < 0.8*left {
				t.Errorf("seed %d: production %.2f%% throttled (want ≤ 1%%), the tool %.2f calls/s (want ≥ 8 of the 10 left)\nrates %.1f",
					seed, 100*share, got, o.rates)
			}
			if final := o.rates[len(o.rates)-1]; final > left {
				t.Errorf("seed %d: settled at %.1f calls/s, above the %g production leaves", seed, final, left)
			}
		}
		if throttled > 0.01 || got < 0.8*left {
			t.Errorf("production at %g/s: %.2f%% of its calls throttled on average (want ≤ 1%%), the tool %.2f calls/s (want ≥ %g)",
				production, 100*throttled, got, 0.8*left)
		}
	}
}

// Alone against a quota below --rps (20/s asked 50), the tool settles near
// the quota, with few calls throttled.
func TestPacerSettlesNearTheGrant(t *testing.T) {
	for seed := range uint64(5) {
		o := scenario{rps: 50, workers: 9, latency: 50 * time.Millisecond, seconds: 20, grant: 20, seed: seed}.play()
		// The quota's bucket gives 20 calls more than 20/s over the run.
		got := float64(o.toolOK-20) / 20 / 20
		if got < 0.85 || o.toolThrottledShare() > 0.10 {
			t.Errorf("seed %d: %.0f%% of the grant (want ≥ 85%%), %.1f%% of calls throttled (want ≤ 10%%)\nrates %.1f",
				seed, 100*got, 100*o.toolThrottledShare(), o.rates)
		}
	}
}

// Throttling that no rate cures (half of all calls, at random) drives the
// rate down to the floor and no further, and the log says once why.
func TestPacerKeepsTheFloorUnderThrottlingItCannotCure(t *testing.T) {
	o := scenario{rps: 25, workers: 5, latency: 50 * time.Millisecond, seconds: 60, random: 0.5, seed: 1}.play()
	if low := slices.Min(o.rates); low < floorRPS {
		t.Errorf("the rate fell to %.2f calls/s, below the floor %v\nrates %.2f", low, floorRPS, o.rates)
	}
	if final := o.rates[len(o.rates)-1]; final > 2*floorRPS {
		t.Errorf("the rate ended at %.2f calls/s: half the calls throttled should hold it near the floor\nrates %.2f", final, o.rates)
	}
	const elsewhere = `msg="throttled even at the lowest rate: the quota is being used elsewhere" region=us-east-1 rps=0.5`
	if n := strings.Count(o.log, elsewhere); n != 1 {
		t.Errorf("the log says %d times %s; want once. Log:\n%s", n, elsewhere, o.log)
	}
	if sent := o.toolOK + o.toolThrottled; sent < 25 {
		t.Errorf("%d calls in 60 s: the floor did not keep the run going", sent)
	}
}

// Each slow-down is logged with the new rate, and, from the second
// throttling on, with the rate that succeeded since the one before: here
// the 10/s that production leaves.
func TestPacerLogsEachSlowDown(t *testing.T) {
	o := scenario{rps: 25, workers: 5, latency: 50 * time.Millisecond, seconds: 40, grant: 25, production: 15, seed: 1}.play()
	want := `level=INFO msg="throttled: slowing down" region=us-east-1 rps=6.3
level=INFO msg="throttled: slowing down" region=us-east-1 succeeded_rps=10.1 rps=8.6
`
	if o.log != want {
		t.Errorf("log:\n%s\nwant:\n%s", o.log, want)
	}
}

// The floor is --rps itself when that is lower.
func TestPacerFloorIsAtMostTheRate(t *testing.T) {
	o := scenario{rps: 0.3, workers: 4, latency: 50 * time.Millisecond, seconds: 30, random: 0.5, seed: 1}.play()
	if low, high := slices.Min(o.rates), slices.Max(o.rates); low != 0.3 || high != 0.3 {
		t.Errorf("rates %.2f, want 0.3 throughout", o.rates)
	}
}

// A wait under way when the rate is lowered is taken again at the new
// rate, not kept at the turn the old rate gave it.
func TestLimiterWaitStartsAgainWhenLowered(t *testing.T) {
	l := newLimiter(rate.Every(time.Hour), 1)
	l.lim.Allow() // the bucket is empty: the next turn is an hour away
	old := l.lim
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background()) }()
	for old.Tokens() > -0.5 { // until the waiter holds that turn
		time.Sleep(time.Millisecond)
	}
	// Lowered as of an hour ago, the new rate's first turn is now.
	l.lower(time.Now().Add(-time.Hour), rate.Every(time.Hour))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait kept its turn at the old rate, an hour away")
	}
}
