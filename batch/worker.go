package batch

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// worker sends jobs one attempt at a time.
type worker struct {
	client  Client
	cfg     Config
	stop    context.Context // ends on interrupt or halt: no new attempt starts
	halt    context.CancelCauseFunc
	watch   *failureWatch
	pool    *pool
	spawn   func(n int)
	waitCtx context.Context // ends on interrupt or run failure: stops waits
	gctx    context.Context // ends on run failure only: bounds calls
}

// process sends one row, retrying what classify allows, and returns its
// Result with the true number of calls made. It tells the failure watch of
// every call and of the row's end before the worker takes another row.
func (w *worker) process(j *job) (res Result) {
	res = j.res
	start := w.cfg.Now()
	res.StartedAt = start.UTC()
	defer func() {
		res.Duration = w.cfg.Now().Sub(start)
		w.haltIf(w.watch.row(res))
	}()
	region := func(o *cip.Options) { o.Region = j.region }
	for attempt := 1; ; attempt++ {
		if err := w.ready(j, attempt); err != nil {
			if attempt == 1 {
				res.fail(StatusNotAttempted, err)
				if err.Code == CodeTokenExpired {
					res.Status = StatusInvalid
				}
			} else {
				res.ErrorMessage += "; " + err.Message
			}
			return res
		}
		res.Attempts = attempt
		sent := w.cfg.Now()
		actx, cancel := context.WithTimeout(w.gctx, w.cfg.Timeout)
		out, err := w.client.SetUserMFAPreference(actx, j.input, region)
		cancel()
		var class *Class
		if err != nil {
			c := classify(err)
			c.scrub(j.token, j.res.TokenSHA256)
			class = &c
		}
		j.pacer.observe(class)
		w.logAttempt(j, attempt, sent, out, class)
		w.haltIf(w.watch.call(class))
		if more := w.pool.observe(w.cfg.Now().Sub(sent)); more > 0 {
			w.spawn(more)
		}
		if class == nil {
			res.Status, res.ErrorCode, res.ErrorMessage = StatusSucceeded, "", ""
			res.HTTPStatus, res.RequestID = answered(out, j.token)
			return res
		}
		if class.Throttle {
			res.throttled++
		}
		res.Status, res.ErrorCode, res.ErrorMessage = StatusFailed, class.Code, class.Message
		res.HTTPStatus, res.RequestID = class.HTTPStatus, class.RequestID
		switch {
		case !class.Retry:
			return res
		case attempt >= w.cfg.MaxAttempts:
			res.ErrorMessage += "; gave up after " + plural(attempt, "attempt")
			return res
		case w.waitCtx.Err() != nil || !w.sleep(Backoff(attempt, w.cfg.BackoffBase, w.cfg.BackoffMax, jitter)):
			res.ErrorMessage += "; " + stopped(w.stop, "the next retry").Message
			return res
		}
	}
}

// haltIf halts the run for reason, unless reason is "" or the run has
// already stopped.
func (w *worker) haltIf(reason string) {
	if reason != "" && w.stop.Err() == nil {
		w.cfg.Log.Debug("halting", "reason", reason) // the person hears of it from OnHalt
		w.halt(&HaltError{Reason: reason})
	}
}

// logAttempt logs one call at debug level: the row by number, id and
// fingerprint, never its token.
func (w *worker) logAttempt(j *job, attempt int, sent time.Time, out *cip.SetUserMFAPreferenceOutput, class *Class) {
	if !w.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	status, requestID := answered(out, j.token)
	code := ""
	if class != nil {
		code, status, requestID = class.Code, class.HTTPStatus, class.RequestID
	}
	w.cfg.Log.Debug("attempt", "row", j.res.Row, "id", j.res.ID, "token_sha256", j.res.TokenSHA256,
		"region", j.region, "attempt", attempt, "http_status", status, "error_code", code,
		"latency_ms", w.cfg.Now().Sub(sent).Milliseconds(), "request_id", requestID)
}

// ready waits for the row's turn at its region's limiter and checks the
// token is still fresh enough to send.
func (w *worker) ready(j *job, attempt int) *RowError {
	if now := w.cfg.Now(); j.exp.Sub(now) < w.cfg.MinTokenTTL {
		return expired(j.exp, now)
	}
	if err := j.pacer.limiter.Wait(w.waitCtx); err != nil || w.stop.Err() != nil {
		what := "this row was sent"
		if attempt > 1 {
			what = "the next retry"
		}
		return stopped(w.stop, what)
	}
	if now := w.cfg.Now(); j.exp.Sub(now) < w.cfg.MinTokenTTL {
		return expired(j.exp, now)
	}
	return nil
}

func (w *worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.waitCtx.Done():
		return false
	}
}

// answered reads the HTTP status and request id of a successful call; a
// request id that is no request id, or quotes token, is withheld.
func answered(out *cip.SetUserMFAPreferenceOutput, token string) (status int, requestID string) {
	if out == nil {
		return 0, ""
	}
	requestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if resp, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		status = resp.StatusCode
	}
	return status, showRequestID(requestID, token)
}

// plural says "1 attempt" or "3 attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
