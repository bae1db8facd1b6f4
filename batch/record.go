package batch

import (
	"context"
	"errors"
	"time"
)

// record counts and writes each result as it comes, and tells
// Config.OnHalt of a halt. Rows are flushed a few times a second, not one
// write each, so a crash loses at most the last fraction of a second. A
// sink that fails stops dispatch, as a halt does, but the calls in flight
// finish before the run ends (cancelling them would leave their users'
// state unknown): their rows, and those lost in the failed write, are
// counted in the SinkError returned.
func record(sending context.Context, halt context.CancelCauseFunc, cfg Config, results <-chan Result, sink Sink, sum *Summary) error {
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
		if rec.err != nil && sending.Err() == nil {
			halt(&HaltError{Reason: "the report could not be written"})
			cfg.Log.Debug("the report could not be written: no more rows are sent", "error", rec.err)
		}
		// A halt for the rows' failures is told once; one for the report
		// the caller hears of from Run's error.
		var he *HaltError
		if !told && sending.Err() != nil && rec.err == nil && errors.As(context.Cause(sending), &he) {
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
