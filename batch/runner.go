// Package batch is mfabatch's engine: it reads manifest rows, checks them,
// and sends SetUserMFAPreference for each through per-region rate limiters
// and a worker pool with retries, yielding one Result per row.
package batch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Config tunes a run. The zero value of each field has the meaning its
// comment gives.
type Config struct {
	Workers     int           // concurrent calls per region; 0 means auto: as many as --rps needs at the latency seen
	RPS         float64       // attempts per second per region, retries included; 0 means unlimited
	Burst       int           // limiter burst; 0 means 1
	MaxAttempts int           // attempts per row, the first included; 0 means 5
	Timeout     time.Duration // limit for one attempt; 0 means 10s
	MinTokenTTL time.Duration // a token expiring within this of its dispatch is not sent
	// Rows go to their token's issuer's region. Region (--region) serves
	// tokens whose issuer names none, and a row whose issuer names another
	// is invalid (RegionMismatch); DefaultRegion (the AWS configuration's)
	// serves tokens naming none when Region is "". With neither, such a
	// row ends the run with a *NoRegionError.
	Region        string
	DefaultRegion string
	Defaults      Settings  // fields for rows that leave them blank
	DryRun        bool      // check and describe every row; send nothing
	MaxFailures   Threshold // halt once failed rows exceed it; the zero value never halts
	Adaptive      bool      // slow down on throttling, recover slowly; needs RPS > 0
	// AlreadyDone reports rows (by token fingerprint) that succeeded in an
	// earlier run: they are skipped and make no call. nil means none.
	AlreadyDone func(tokenSHA256 string) bool
	// Reported reports rows whose Result an earlier pass over the same
	// manifest already gave the sink (the plan writes earlier successes
	// before the first call): they are counted, not written again. nil
	// means none.
	Reported func(row int) bool

	Log   *slog.Logger // attempts at debug, halts and slow-downs at info; nil logs nothing
	Shard Shard        // run only this shard's rows; the zero value runs every row
	// OnResult, when set, sees each row's Result as it finishes, after the
	// sink has it, from one goroutine: for progress displays.
	OnResult func(Result)
	// OnHalt, when set, hears why the run halts (see MaxFailures), once,
	// as it happens (within flushEvery): to tell the person at once.
	OnHalt func(reason string)

	BackoffBase time.Duration    // first retry's backoff ceiling; 0 means 200ms
	BackoffMax  time.Duration    // backoff ceiling; 0 means 20s
	Now         func() time.Time // the clock; nil means time.Now
}

func (c Config) withDefaults() Config {
	if c.Workers < 0 {
		c.Workers = 0
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 20 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// rowBuffer is how many rows each stage of the pipeline may hold for the
// next: enough that the stages run side by side on separate cores rather
// than taking turns, a row at a time.
const rowBuffer = 256

// flushEvery is how often finished rows are flushed to the sink.
const flushEvery = 250 * time.Millisecond

// Sink receives results as rows finish, from a single goroutine. Flush is
// called at least every flushEvery while rows come, and at the end.
type Sink interface {
	Write(Result) error
	Flush() error
}

// Runner runs a manifest through Client.
type Runner struct {
	Client Client // unused in a dry run
	Config Config
}

// Run reads every row of m and hands one Result per row to sink. Row
// failures are Results; Run returns an error only when the run itself
// fails: the manifest cannot be read, or the sink cannot be written (a
// *SinkError, once calls in flight have finished). When ctx is
// cancelled, or the run halts (see Config.MaxFailures), rows not yet sent
// are reported not_attempted, calls in flight finish (each within
// Config.Timeout), and Run returns a complete Summary with ctx's error or
// a *HaltError.
func (r *Runner) Run(ctx context.Context, m Manifest, sink Sink) (*Summary, error) {
	cfg := r.Config.withDefaults()
	sum := newSummary(cfg)
	start := cfg.Now()

	// gctx ends only when the run fails. stop ends on an interrupt (ctx) or
	// a halt: it stops dispatch but lets calls in flight finish and every
	// row be reported.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	stop, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	waitCtx, cancelWait := context.WithCancel(gctx)
	defer cancelWait()
	stopWaits := context.AfterFunc(stop, cancelWait)
	defer stopWaits()

	watch := &failureWatch{limit: cfg.MaxFailures}
	results := make(chan Result, max(startWorkers(cfg), rowBuffer))
	send := func(res Result) bool {
		select {
		case results <- res:
			return true
		case <-gctx.Done():
			return false
		}
	}

	// Each region's rows go to workers of its own (see dispatch).
	var producers sync.WaitGroup
	d := &dispatch{cfg: cfg, ahead: make(chan struct{}, aheadRows), lanes: map[string]*lane{}, g: g, running: &producers, send: send,
		newWorker: func(l *lane) worker {
			return worker{client: r.Client, cfg: cfg, stop: stop, halt: halt, watch: watch, waitCtx: waitCtx, gctx: gctx, pool: l.pool}
		}}

	// A manifest that cannot be read further ends the run, as does a row
	// that needs a region when none is configured, but the rows read so
	// far still finish and are reported.
	var readErr error
	unsent := func(j *job) bool { return send(notSent(stop, j.res, cfg.Now())) }
	producers.Add(1)
	g.Go(func() error {
		defer producers.Done()
		defer d.close()
		defer d.finish(stop, gctx, unsent)
		p := producer{cfg: cfg, start: start, sum: sum, pacers: map[string]*pacer{}}
		readErr = p.produce(m, d, send, unsent, stop, gctx)
		return nil
	})
	go func() {
		producers.Wait()
		close(results)
	}()
	g.Go(func() error { return consume(cfg, results, sink, sum, stop, halt) })
	err := g.Wait()
	sum.Workers = d.workers()
	sum.finish(cfg.Now().Sub(start))
	if err == nil {
		err = readErr
	}
	if err != nil {
		return sum, err
	}
	var he *HaltError
	switch cause := context.Cause(stop); {
	case errors.As(cause, &he):
		sum.Halted = he.Reason
		return sum, he
	case ctx.Err() != nil:
		sum.Interrupted = true
		return sum, ctx.Err()
	}
	return sum, nil
}

// consume counts and writes each result as it comes, and tells
// Config.OnHalt of a halt. Rows are flushed a few times a second, not one
// write each, so a crash loses at most the last fraction of a second. A
// sink that fails stops dispatch, as a halt does, but the calls in flight
// finish before the run ends (cancelling them would leave their users'
// state unknown): their rows, and those lost in the failed write, are
// counted in the SinkError returned.
func consume(cfg Config, results <-chan Result, sink Sink, sum *Summary, stop context.Context, halt context.CancelCauseFunc) error {
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	rec := recorder{sink: sink}
	told := false
	for {
		select {
		case res, ok := <-results:
			if !ok {
				rec.dirty = true // the last flush writes out a header, even of no rows
				rec.flush()
				return rec.result()
			}
			sum.add(res)
			if res.ErrorCode != CodeAlreadySucceeded || cfg.Reported == nil || !cfg.Reported(res.Row) {
				rec.write(res)
			}
			if cfg.OnResult != nil {
				cfg.OnResult(res)
			}
		case <-tick.C:
			rec.flush()
		}
		if rec.err != nil && stop.Err() == nil {
			halt(&HaltError{Reason: "the report could not be written"})
			cfg.Log.Debug("the report could not be written: no more rows are sent", "error", rec.err)
		}
		// A halt of the workers' is told once; one of the report's the
		// caller hears of from Run's error.
		var he *HaltError
		if !told && stop.Err() != nil && rec.err == nil && errors.As(context.Cause(stop), &he) {
			told = true
			if cfg.OnHalt != nil {
				cfg.OnHalt(he.Reason)
			}
		}
	}
}

// recorder writes results to a sink and knows which rows that made calls
// the sink has not written out: those written since its last Flush, and,
// once it has failed, every one.
type recorder struct {
	sink    Sink
	err     error // the sink's first failure; nothing is written after it
	dirty   bool  // rows written since the last Flush
	pending int   // of them, rows that made calls
	lost    int   // rows that made calls and are not in the report
}

// write hands res to the sink, unless the sink has failed.
func (rc *recorder) write(res Result) {
	if rc.err != nil {
		if res.Attempts > 0 {
			rc.lost++
		}
		return
	}
	if res.Attempts > 0 {
		rc.pending++
	}
	rc.dirty = true
	if err := rc.sink.Write(res); err != nil {
		rc.fail(err)
	}
}

// flush writes out the rows written since the last flush.
func (rc *recorder) flush() {
	if rc.err != nil || !rc.dirty {
		return
	}
	if err := rc.sink.Flush(); err != nil {
		rc.fail(err)
		return
	}
	rc.dirty, rc.pending = false, 0
}

func (rc *recorder) fail(err error) {
	rc.err = err
	rc.lost += rc.pending
	rc.pending = 0
}

func (rc *recorder) result() error {
	if rc.err == nil {
		return nil
	}
	return &SinkError{Err: rc.err, Unrecorded: rc.lost}
}

// SinkError is a report that could not be written. Unrecorded counts the
// rows that made calls but are not in it, as far as the run can tell:
// rows the sink took but had not written out when it failed count too.
type SinkError struct {
	Err        error
	Unrecorded int
}

func (e *SinkError) Error() string { return e.Err.Error() }
func (e *SinkError) Unwrap() error { return e.Err }

// readRows reads the shard's rows of m in its own goroutine, so that a
// stopped run need not wait on a manifest that blocks (a pipe nobody
// closes), and reads each row's token there too, which spreads a row's work
// over two cores. The goroutine ends when m does, or when it is read no
// more and m next returns.
func readRows(m Manifest, shard Shard, gctx context.Context) <-chan readRow {
	rows := make(chan readRow, rowBuffer)
	go func() {
		defer close(rows)
		for {
			row, err := m.Next()
			if err == nil && !shard.Has(row.N) {
				continue
			}
			r := readRow{row: row, err: err}
			if err == nil {
				r.claims, r.tokenErr = ParseToken(row.Token)
				if row.Token != "" {
					r.fingerprint = Fingerprint(row.Token)
				}
			}
			select {
			case rows <- r:
			case <-gctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return rows
}

// readRow is a row as read, with what its token says.
type readRow struct {
	row         Row
	err         error
	claims      Claims
	tokenErr    *RowError
	fingerprint string
}

// stopGrace is how long a stopped run waits for the manifest's next row
// before it ends without the rest: rows already written to a pipe are
// still reported, a pipe that has gone quiet is not waited on.
const stopGrace = time.Second

// nextRow returns the next row, or io.EOF when the manifest has ended or
// stop has ended and the manifest has gone quiet.
func nextRow(rows <-chan readRow, stop, gctx context.Context) (readRow, error) {
	stopped := stop.Done()
	var quiet <-chan time.Time
	for {
		if stopped != nil && stop.Err() != nil {
			t := time.NewTimer(stopGrace)
			defer t.Stop()
			stopped, quiet = nil, t.C
		}
		select {
		case r, ok := <-rows:
			if !ok {
				return readRow{}, io.EOF
			}
			return r, r.err
		case <-stopped:
		case <-quiet:
			return readRow{}, io.EOF
		case <-gctx.Done():
			return readRow{}, gctx.Err()
		}
	}
}

// stopped is why stop ended, as a row's error: Halted or Interrupted.
func stopped(stop context.Context, what string) *RowError {
	var he *HaltError
	if errors.As(context.Cause(stop), &he) {
		return rowErr(CodeHalted, "the run halted before %s: %s", what, he.Reason)
	}
	return rowErr(CodeInterrupted, "the run was interrupted before %s", what)
}

// notSent is the result of a row that was ready but not sent.
func notSent(stop context.Context, res Result, now time.Time) Result {
	res.StartedAt = now.UTC()
	res.fail(StatusNotAttempted, stopped(stop, "this row was sent"))
	return res
}
