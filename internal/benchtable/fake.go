package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// fake is a fake Cognito (batch/cognitotest) served by a child process:
// this same program run with -serve. It is kept out of the harness for
// memory's sake: the server keeps every call's body, and on Linux a
// child's ru_maxrss starts from its parent's peak RSS (exec records the
// shared pre-exec memory), so a harness swollen by 200,000 bodies would
// be charged to the tool.
type fake struct {
	URL string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	done   bool
	// over is closed when a shared-quota server says production stopped,
	// which it does before its stats; nil for other servers.
	over chan struct{}
}

// stats is what the fake server saw, reported when it stops.
type stats struct {
	Calls       int           `json:"calls"`
	Span        time.Duration `json:"span"`         // first arrival to last
	MaxIn1s     int           `json:"max_in_1s"`    // busiest one-second window
	FirstSecond int           `json:"first_second"` // calls within a second of the first

	// ByCategory is the same of each quota category's calls alone
	// (cognitotest.UserUpdate, UserRead, UserList), for runs that read.
	ByCategory map[string]callStats `json:"by_category,omitempty"`

	// With a shared quota (see sharedQuota): what production and the
	// tool got while production ran.
	Production *cognitotest.Traffic `json:"production,omitempty"`
	Tool       *cognitotest.Traffic `json:"tool,omitempty"`
	Window     time.Duration        `json:"window,omitempty"` // production's time: q.For, or more on a busy machine
}

// callStats is what the server saw of some of its calls.
type callStats struct {
	Calls   int           `json:"calls"`
	Span    time.Duration `json:"span"`      // first arrival to last
	MaxIn1s int           `json:"max_in_1s"` // busiest one-second window
}

// rate is the calls a second a limiter held, burst calls aside: after
// the first burst calls, which may arrive together, a limiter spaces calls
// evenly, so (calls − burst) / span is its rate, where calls / span would
// overstate it by a call.
func (c callStats) rate(burst int) float64 { return float64(c.Calls-burst) / c.Span.Seconds() }

// sharedQuota is a quota that the tool shares with the account's
// production traffic, which the fake server makes itself.
type sharedQuota struct {
	Grant      float64       // calls a second for all clients, with a bucket as large
	Production float64       // production's steady calls a second
	For        time.Duration // how long production runs, from the tool's first call
}

// startFake starts a fake Cognito that answers every call with success
// after delay.
func startFake(delay time.Duration) (*fake, error) {
	return startFakeArgs("-delay", delay.String())
}

// startSeededFake starts a fake Cognito that answers after delay, with
// users users in benchPool (cognitotest.Generated's), for export and plan.
func startSeededFake(delay time.Duration, users int) (*fake, error) {
	return startFakeArgs("-delay", delay.String(), "-users", strconv.Itoa(users))
}

// startSharedFake starts a fake Cognito that answers after delay, within
// the quota q, which its own production traffic shares. Its standard
// output says "over" when production stops.
func startSharedFake(delay time.Duration, q sharedQuota) (*fake, error) {
	f, err := startFakeArgs("-delay", delay.String(), "-grant", fmt.Sprint(q.Grant),
		"-production", fmt.Sprint(q.Production), "-for", q.For.String())
	if err != nil {
		return nil, err
	}
	f.over = make(chan struct{})
	go func() {
		defer close(f.over)
		_, _ = f.stdout.ReadString('\n')
	}()
	return f, nil
}

func startFakeArgs(args ...string) (*fake, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"-serve"}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fake Cognito: %w", err)
	}
	f := &fake{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	line, err := f.stdout.ReadString('\n')
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("fake Cognito did not start: %v", err)
	}
	f.URL = strings.TrimSpace(line)
	return f, nil
}

// stop shuts the server down and returns what it saw. Calls after the
// first return nothing, so it can also be deferred for clean-up.
func (f *fake) stop() (stats, error) {
	var st stats
	if f.done {
		return st, nil
	}
	f.done = true
	f.stdin.Close() // the server's cue to stop and report
	if f.over != nil {
		<-f.over // the line before the stats
	}
	err := json.NewDecoder(f.stdout).Decode(&st)
	if werr := f.cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return st, fmt.Errorf("fake Cognito: %v", err)
	}
	return st, nil
}

// serve is the -serve mode: it adds users users to benchPool, prints the
// server's URL, serves until its
// standard input closes (the harness is done, or gone), then prints the
// stats as JSON. With a shared quota (q.Grant > 0) it also makes
// production's traffic, from the tool's first call, and prints "over"
// when production stops, before the stats.
func serve(delay time.Duration, q sharedQuota, users int) int {
	var decide func(cognitotest.Call) cognitotest.Reply
	var shared *sharedRun
	switch {
	case q.Grant > 0:
		shared = newSharedRun(q, delay)
		decide = shared.decide
	case delay > 0:
		decide = func(cognitotest.Call) cognitotest.Reply { return cognitotest.Reply{Delay: delay} }
	}
	srv := cognitotest.NewServer(decide)
	if err := srv.AddUsers(cognitotest.Generated(benchPool, users)); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable -serve:", err)
		return 1
	}
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	st := statsOf(srv)
	if shared != nil {
		shared.finish(&st)
	}
	if err := json.NewEncoder(os.Stdout).Encode(st); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable -serve:", err)
		return 1
	}
	return 0
}

// sharedRun is the fake server's side of a shared quota: the tool's calls
// and production's draw on one quota while production runs.
type sharedRun struct {
	q     sharedQuota
	quota *cognitotest.Quota
	delay time.Duration

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when production has stopped and said "over"

	mu         sync.Mutex
	over       bool // production ran its course
	tool       cognitotest.Traffic
	production cognitotest.Traffic
	window     time.Duration
}

func newSharedRun(q sharedQuota, delay time.Duration) *sharedRun {
	ctx, cancel := context.WithCancel(context.Background())
	return &sharedRun{q: q, quota: cognitotest.NewQuota(q.Grant, int(q.Grant)), delay: delay,
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// decide answers the tool's calls within the quota, counting them while
// production runs; the first call starts production.
func (s *sharedRun) decide(c cognitotest.Call) cognitotest.Reply {
	s.start.Do(func() { go s.runProduction() })
	r := s.quota.Decide(c)
	s.mu.Lock()
	if !s.over {
		s.tool.Sent++
		if r.Fault == cognitotest.Throttle {
			s.tool.Throttled++
		}
	}
	s.mu.Unlock()
	r.Delay = s.delay
	return r
}

func (s *sharedRun) runProduction() {
	defer close(s.done)
	n := int(s.q.Production * s.q.For.Seconds())
	start := time.Now()
	t := s.quota.Steady(s.ctx, s.q.Production, n)
	s.mu.Lock()
	s.over, s.production, s.window = t.Sent == n, t, time.Since(start)
	s.mu.Unlock()
	fmt.Println("over")
}

// finish stops production if it still runs and adds to st what
// production and the tool got while it ran, unless it was cut short.
func (s *sharedRun) finish(st *stats) {
	s.start.Do(func() { go s.runProduction() })
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		p, t := s.production, s.tool
		st.Production, st.Tool, st.Window = &p, &t, s.window
	}
}

func statsOf(srv *cognitotest.Server) stats {
	calls := srv.Calls()
	if len(calls) == 0 {
		return stats{}
	}
	all := make([]time.Time, len(calls))
	byCategory := map[string][]time.Time{}
	for i, c := range calls {
		all[i] = c.At
		cat := cognitotest.Category(c.Op)
		byCategory[cat] = append(byCategory[cat], c.At)
	}
	st := stats{ByCategory: map[string]callStats{}}
	whole := statsOfTimes(all)
	st.Calls, st.Span, st.MaxIn1s = whole.Calls, whole.Span, whole.MaxIn1s
	for _, at := range all {
		if at.Sub(all[0]) < time.Second {
			st.FirstSecond++
		}
	}
	for cat, times := range byCategory {
		st.ByCategory[cat] = statsOfTimes(times)
	}
	return st
}

// statsOfTimes is what the server saw of calls that arrived at times, in
// ascending order.
func statsOfTimes(times []time.Time) callStats {
	return callStats{
		Calls:   len(times),
		Span:    times[len(times)-1].Sub(times[0]),
		MaxIn1s: cognitotest.MaxInWindow(times, time.Second),
	}
}
