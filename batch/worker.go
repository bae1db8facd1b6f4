package batch

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// worker sends jobs one attempt at a time.
type worker struct {
	client  Client
	cfg     Config
	stop    context.Context // ends on interrupt: no new attempt starts
	pool    *pool
	spawn   func(n int)
	waitCtx context.Context // ends on interrupt or run failure: stops waits
	gctx    context.Context // ends on run failure only: bounds calls
}

// process sends one row, retrying what shouldRetry allows, and returns its
// Result with the true number of calls made.
func (w *worker) process(j *job) (res Result) {
	res = j.res
	start := w.cfg.Now()
	res.StartedAt = start.UTC()
	defer func() {
		res.Duration = w.cfg.Now().Sub(start)
		res.ErrorMessage = scrub(res.ErrorMessage, j.token, res.TokenSHA256)
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
		j.pacer.observe(err)
		w.logAttempt(j, attempt, sent, out, err)
		if more := w.pool.observe(w.cfg.Now().Sub(sent)); more > 0 {
			w.spawn(more)
		}
		if err == nil {
			res.Status, res.ErrorCode, res.ErrorMessage = StatusSucceeded, "", ""
			res.HTTPStatus, res.RequestID = answered(out)
			return res
		}
		code, msg, status, id := describe(err)
		if code == "TooManyRequestsException" {
			res.throttled++
		}
		res.Status, res.ErrorCode, res.ErrorMessage = StatusFailed, code, msg
		res.HTTPStatus, res.RequestID = status, id
		if attempt >= w.cfg.MaxAttempts || !shouldRetry(w.waitCtx, err) {
			switch worth := shouldRetry(context.WithoutCancel(w.waitCtx), err); {
			case worth && attempt >= w.cfg.MaxAttempts:
				res.ErrorMessage += "; gave up after " + plural(attempt, "attempt")
			case worth:
				res.ErrorMessage += "; " + stopped(w.stop, "the next retry").Message
			}
			return res
		}
		if !w.sleep(Backoff(attempt, w.cfg.BackoffBase, w.cfg.BackoffMax, jitter)) {
			res.ErrorMessage += "; " + stopped(w.stop, "the next retry").Message
			return res
		}
	}
}

// logAttempt logs one call at debug level: the row by number, id and
// fingerprint, never its token.
func (w *worker) logAttempt(j *job, attempt int, sent time.Time, out *cip.SetUserMFAPreferenceOutput, err error) {
	if !w.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	status, requestID := answered(out)
	code := ""
	if err != nil {
		code, _, status, requestID = describe(err)
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

// answered reads the HTTP status and request id of a successful call.
func answered(out *cip.SetUserMFAPreferenceOutput) (status int, requestID string) {
	if out == nil {
		return 0, ""
	}
	requestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if resp, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		status = resp.StatusCode
	}
	return status, requestID
}

// scrub keeps a token out of a message from elsewhere: the whole token is
// replaced by its redacted name, and a message that still quotes any 16
// characters of it is withheld.
func scrub(msg, token, fingerprint string) string {
	const piece = 16
	if msg == "" {
		return msg
	}
	if token != "" {
		msg = strings.ReplaceAll(msg, token, redacted(fingerprint))
	}
	if len(token) < piece {
		if token != "" && strings.Contains(msg, token) {
			return "<message withheld: it quoted the access token>"
		}
		return msg
	}
	for i := 0; i+piece <= len(token); i++ {
		if strings.Contains(msg, token[i:i+piece]) {
			return "<message withheld: it quoted the access token>"
		}
	}
	return msg
}

// plural says "1 attempt" or "3 attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
