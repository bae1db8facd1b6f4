// Package batch is mfabatch's engine: it reads manifest rows, checks them,
// and sends each row's call through per-region rate limiters and a worker
// pool with retries, yielding one Result per row.
package batch

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
)

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
//
// The run is a pipeline: read the rows (read.go), check each (producer.go),
// dispatch the rows to send to their region's lane (dispatch.go), where
// workers call the service (worker.go), and record every Result
// (record.go).
func (r *Runner) Run(ctx context.Context, m Manifest, sink Sink) (*Summary, error) {
	cfg := r.Config.withDefaults()
	sum := newSummary(cfg)
	start := cfg.Now()

	// running ends only when the run fails; it bounds the calls in flight.
	// sending ends too on an interrupt (ctx) or a halt: no row is sent,
	// and no wait goes on, after it, but calls in flight finish and every
	// row is reported.
	g, running := errgroup.WithContext(context.WithoutCancel(ctx))
	sending, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	defer context.AfterFunc(running, func() { halt(context.Cause(running)) })()

	results := make(chan Result, rowBuffer)
	d := newDispatch(cfg, r.Client, results, halt)
	rows := readRows(running, m, cfg.Shard, cfg.UserPoolID)
	// A manifest that cannot be read further ends the run, as does a row
	// that needs a region when none is configured, but the rows read so
	// far still finish and are reported.
	var readErr error
	g.Go(func() error {
		defer close(results)
		p := producer{cfg: cfg, start: start, sum: sum}
		readErr = p.produce(running, sending, rows, d)
		d.finish(running, sending)
		return nil
	})
	g.Go(func() error { return record(sending, halt, cfg, results, sink, sum) })
	err := g.Wait()

	sum.Workers, sum.pacers = d.workers(), d.pacers()
	sum.finish(cfg.Now().Sub(start))
	if err == nil {
		err = readErr
	}
	if err != nil {
		return sum, err
	}
	var he *HaltError
	switch cause := context.Cause(sending); {
	case errors.As(cause, &he):
		sum.Halted = he.Reason
		return sum, he
	case ctx.Err() != nil:
		sum.Interrupted = true
		return sum, ctx.Err()
	}
	return sum, nil
}

// deliver hands res to the record stage; false once the run has failed.
func deliver(running context.Context, results chan<- Result, res Result) bool {
	select {
	case results <- res:
		return true
	case <-running.Done():
		return false
	}
}
