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
	Workers     int           // concurrent calls; 0 means auto: as many as --rps needs at the latency seen
	RPS         float64       // attempts per second per region, retries included; 0 means unlimited
	Burst       int           // limiter burst; 0 means 1
	MaxAttempts int           // attempts per row, the first included; 0 means 5
	Timeout     time.Duration // limit for one attempt; 0 means 10s
	MinTokenTTL time.Duration // a token expiring within this of its dispatch is not sent
	Region      string        // where to send every row; "" means each token's issuer region
	Defaults    Settings      // fields for rows that leave them blank
	DryRun      bool          // check and describe every row; send nothing
	MaxFailures Threshold     // halt once failed rows exceed it; the zero value never halts
	Adaptive    bool          // slow down on throttling, recover slowly; needs RPS > 0
	// AlreadyDone reports rows (by token fingerprint) that succeeded in an
	// earlier run: they are skipped and make no call. nil means none.
	AlreadyDone func(tokenSHA256 string) bool

	Log   *slog.Logger // attempts at debug, halts and slow-downs at info; nil logs nothing
	Shard Shard        // run only this shard's rows; the zero value runs every row
	// OnResult, when set, sees each row's Result as it finishes, after the
	// sink has it, from one goroutine: for progress displays.
	OnResult func(Result)

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
// fails: the manifest cannot be read or the sink cannot be written. When
// ctx is cancelled, or the run halts (see Config.MaxFailures), rows not yet
// sent are reported not_attempted, calls in flight finish (each within
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

	pool := newPool(cfg)
	jobs := make(chan *job, pool.start)
	results := make(chan Result, max(pool.start, rowBuffer))
	send := func(res Result) bool {
		select {
		case results <- res:
			return true
		case <-gctx.Done():
			return false
		}
	}

	// A manifest that cannot be read further ends the run, but the rows
	// read so far still finish and are reported.
	var readErr error
	var producers sync.WaitGroup
	producers.Add(1)
	g.Go(func() error {
		defer producers.Done()
		defer close(jobs)
		p := producer{cfg: cfg, start: start, sum: sum, pacers: map[string]*pacer{}}
		rows := readRows(m, cfg.Shard, gctx)
		for {
			r, err := nextRow(rows, stop, gctx)
			if err == io.EOF || gctx.Err() != nil {
				return nil
			}
			if err != nil {
				readErr = err
				return nil
			}
			j, res := p.prepare(r)
			switch {
			case j == nil:
				if !send(res) {
					return nil
				}
			case stop.Err() != nil:
				if !send(notSent(stop, j.res, cfg.Now())) {
					return nil
				}
			default:
				select {
				case jobs <- j:
				case <-stop.Done():
					if !send(notSent(stop, j.res, cfg.Now())) {
						return nil
					}
				case <-gctx.Done():
					return nil
				}
			}
		}
	})
	// A worker may start more workers: it holds a count of producers, so
	// the count cannot reach zero while it adds to it.
	var spawn func(n int)
	spawn = func(n int) {
		for range n {
			producers.Add(1)
			g.Go(func() error {
				defer producers.Done()
				w := worker{client: r.Client, cfg: cfg, stop: stop, waitCtx: waitCtx, gctx: gctx, pool: pool, spawn: spawn}
				for j := range jobs {
					if !send(w.process(j)) {
						return nil
					}
				}
				return nil
			})
		}
	}
	spawn(pool.start)
	go func() {
		producers.Wait()
		close(results)
	}()
	g.Go(func() error {
		// Rows are flushed a few times a second, not one write each, so a
		// crash loses at most the last fraction of a second.
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		dirty := false
		watch := failureWatch{limit: cfg.MaxFailures}
		for {
			var res Result
			select {
			case r, ok := <-results:
				if !ok {
					return sink.Flush()
				}
				res = r
			case <-tick.C:
				if dirty {
					if err := sink.Flush(); err != nil {
						return err
					}
					dirty = false
				}
				continue
			}
			sum.add(res)
			if reason := watch.add(res); reason != "" && stop.Err() == nil {
				cfg.Log.Warn("halting: rows not yet sent will not be", "reason", reason)
				halt(&HaltError{Reason: reason})
			}
			if err := sink.Write(res); err != nil {
				return err
			}
			if cfg.OnResult != nil {
				cfg.OnResult(res)
			}
			dirty = true
		}
	})
	err := g.Wait()
	sum.Workers = pool.workers()
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

// readRows reads the shard's rows of m in its own goroutine, so that a
// stopped run need not wait on a manifest that blocks (a pipe nobody
// closes), and reads each row's token there too, which spreads a row's work
// over two cores. The goroutine ends when m does, or when it is read no
// more and m next returns.
func readRows(m Manifest, shard Shard, gctx context.Context) <-chan readRow {
	rows := make(chan readRow, rowBuffer)
	go func() {
		defer close(rows)
		is := &issuers{}
		for {
			row, err := m.Next()
			if err == nil && !shard.Has(row.N) {
				continue
			}
			r := readRow{row: row, err: err}
			if err == nil {
				r.claims, r.tokenErr = parseToken(row.Token, is)
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
