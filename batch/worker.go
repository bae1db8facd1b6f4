package batch

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// job is a checked row on its way to a worker.
type job struct {
	res      Result // filled in as far as the row allows
	target   target
	settings Settings // what the row asks
	call     call     // the write
}

// worker sends a region's rows, one attempt at a time.
type worker struct {
	client  Client
	cfg     Config
	results chan<- Result
	watch   *failureWatch
	halt    context.CancelCauseFunc
	pacer   *pacer // the region's writes
	reads   *pacer // the region's reads, on a quota of their own
	pool    *pool
}

// A step is one of a row's calls, paced by the limiter of its kind.
type step struct {
	op    string // OpWrite or OpRead
	pacer *pacer
	call  call
	what  string // the step, as a message says the run stopped before it
}

// process makes a row's calls, retrying what classify allows, and returns
// its Result with the true number of calls made: the write, and the reads
// around it that Config asks for. It tells the failure watch of every
// call and of the row's end before the worker takes another row. Calls
// are bounded by running (and Config.Timeout), waits by sending.
func (w *worker) process(running, sending context.Context, j *job) (res Result) {
	res = j.res
	start := w.cfg.Now()
	res.StartedAt = start.UTC()
	defer func() {
		res.Duration = w.cfg.Now().Sub(start)
		w.haltIf(sending, w.watch.row(res))
	}()
	if w.cfg.Plan || w.cfg.SkipUnchanged {
		if !w.readBefore(running, sending, j, &res) {
			return res
		}
	}
	if !w.try(running, sending, j, step{OpWrite, w.pacer, j.call, "this row was sent"}, &res) {
		res.After = State{} // the state asked for was not written: after is unknown
		return res
	}
	if w.cfg.Verify {
		w.verify(running, sending, j, &res)
	}
	return res
}

// try makes a step's call until it succeeds, fails for good or the run
// stops, and reports whether it succeeded. It sets res's status, error,
// HTTP status and request id from the last attempt, and counts each call
// in res.Attempts.
func (w *worker) try(running, sending context.Context, j *job, s step, res *Result) bool {
	for attempt := 1; ; attempt++ {
		if err := w.ready(sending, j, s, attempt); err != nil {
			if attempt == 1 {
				res.fail(StatusNotAttempted, err)
				if err.Code == CodeTokenExpired {
					res.Status = StatusInvalid
				}
			} else {
				res.ErrorMessage += "; " + err.Message
			}
			return false
		}
		res.Attempts++
		class, md := w.attempt(running, sending, j, s, attempt)
		if class == nil {
			res.Status, res.ErrorCode, res.ErrorMessage = StatusSucceeded, "", ""
			res.HTTPStatus, res.RequestID = w.answered(md, j)
			return true
		}
		if class.Throttle {
			res.throttled++
		}
		res.Status, res.ErrorCode, res.ErrorMessage = StatusFailed, class.Code, class.Message
		res.HTTPStatus, res.RequestID = class.HTTPStatus, class.RequestID
		switch {
		case !class.Retry:
			return false
		case attempt >= w.cfg.MaxAttempts:
			res.ErrorMessage += "; gave up after " + plural(attempt, "attempt")
			return false
		case sending.Err() != nil || !sleep(sending, Backoff(attempt, w.cfg.BackoffBase, w.cfg.BackoffMax, jitter)):
			res.ErrorMessage += "; " + stopped(sending, "the next retry").Message
			return false
		}
	}
}

// attempt makes one call and tells the pacer, the failure watch and the
// pool how it went. It returns the call's class, nil for a success.
func (w *worker) attempt(running, sending context.Context, j *job, s step, attempt int) (*Class, middleware.Metadata) {
	sent := w.cfg.Now()
	callCtx, cancel := context.WithTimeout(running, w.cfg.Timeout)
	md, err := s.call(callCtx, w.client)
	cancel()
	var class *Class
	if err != nil {
		c := classify(err)
		c.scrub(j.target.secret, j.res.TokenSHA256)
		if j.target.admin && w.cfg.Secrets != nil {
			c.scrubCredentials(w.cfg.Secrets())
		}
		class = &c
	}
	s.pacer.observe(class)
	w.onCall(j, s, attempt, sent, class)
	w.logAttempt(j, s, attempt, sent, md, class)
	w.haltIf(sending, w.watch.call(class, j.target.admin))
	w.pool.observe(w.cfg.Now().Sub(sent))
	return class, md
}

// haltIf halts the run for reason, unless reason is "" or the run has
// already stopped.
func (w *worker) haltIf(sending context.Context, reason string) {
	if reason != "" && sending.Err() == nil {
		w.cfg.Log.Debug("halting", "reason", reason) // the person hears of it from OnHalt
		w.halt(&HaltError{Reason: reason})
	}
}

// onCall tells Config.OnCall of a call, with the region's rate as the
// call left it.
func (w *worker) onCall(j *job, s step, attempt int, sent time.Time, class *Class) {
	if w.cfg.OnCall == nil {
		return
	}
	limit, _ := s.pacer.rate()
	w.cfg.OnCall(CallStat{Op: s.op, Region: j.res.Region, Duration: w.cfg.Now().Sub(sent),
		Throttled: class != nil && class.Throttle, Retry: attempt > 1, Limit: limit})
}

// logAttempt logs one call at debug level: the row by number, id and
// fingerprint, never its secret.
func (w *worker) logAttempt(j *job, s step, attempt int, sent time.Time, md middleware.Metadata, class *Class) {
	if !w.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	status, requestID := w.answered(md, j)
	code := ""
	if class != nil {
		code, status, requestID = class.Code, class.HTTPStatus, class.RequestID
	}
	w.cfg.Log.Debug("attempt", "row", j.res.Row, "id", j.res.ID, "token_sha256", j.res.TokenSHA256,
		"region", j.res.Region, "op", s.op, "attempt", attempt, "http_status", status, "error_code", code,
		"latency_ms", w.cfg.Now().Sub(sent).Milliseconds(), "request_id", requestID)
}

// answered is the HTTP status and request id of j's successful call, the
// request id withheld when it quotes a secret. Only an admin call carries
// the AWS credentials: a token call is anonymous.
func (w *worker) answered(md middleware.Metadata, j *job) (int, string) {
	status, requestID := answered(md, j.target.secret)
	if j.target.admin && w.cfg.Secrets != nil {
		c := Class{RequestID: requestID}
		c.scrubCredentials(w.cfg.Secrets())
		requestID = c.RequestID
	}
	return status, requestID
}

// ready waits for the row's turn at the limiter and checks the row's
// secret is still fresh enough to send.
func (w *worker) ready(sending context.Context, j *job, s step, attempt int) *RowError {
	if now := w.cfg.Now(); j.target.expiresWithin(now, w.cfg.MinTokenTTL) {
		return expired(j.target.expires, now)
	}
	if err := s.pacer.limiter.Wait(sending); err != nil || sending.Err() != nil {
		what := s.what
		if attempt > 1 {
			what = "the next retry"
		}
		return stopped(sending, what)
	}
	if now := w.cfg.Now(); j.target.expiresWithin(now, w.cfg.MinTokenTTL) {
		return expired(j.target.expires, now)
	}
	return nil
}

// sleep waits d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// plural says "1 attempt" or "3 attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
