package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// shouldRetry is the one place that decides whether a failed attempt is
// worth another. ctx is the run's context: once it is done nothing is
// retried. Throttling, internal errors, 5xx, broken connections and
// attempt timeouts are retried; every other answer from the service is
// final, since the same request would get the same answer.
func shouldRetry(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "TooManyRequestsException", "InternalErrorException":
			return true
		}
	}
	if status := httpStatus(err); status >= 500 {
		return true
	}
	if api != nil {
		return false
	}
	return transient(err)
}

// transient reports errors that never got an answer from the service:
// attempt timeouts and broken or refused connections.
func transient(err error) bool {
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &send) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Backoff is the wait before retry number n (1 for the first retry):
// exponential from base, capped at max, with full jitter. rnd returns a
// number in [0, 1).
func Backoff(n int, base, max time.Duration, rnd func() float64) time.Duration {
	if n < 1 || base <= 0 {
		return 0
	}
	ceil := max
	if n <= 62 && base <= max>>(n-1) {
		ceil = base << (n - 1)
	}
	return time.Duration(rnd() * float64(ceil))
}

func jitter() float64 { return rand.Float64() }

// describe turns a failed attempt into the report's error code and message
// and the HTTP status and request id, where the service answered.
func describe(err error) (code, msg string, status int, requestID string) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status, requestID = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	var api smithy.APIError
	switch {
	case errors.As(err, &api):
		code, msg = api.ErrorCode(), api.ErrorMessage()
		if msg == "" {
			msg = api.Error()
		}
		if status != 0 && (code == "" || code == "UnknownError") {
			code = fmt.Sprintf("HTTP%d", status)
		}
	case errors.Is(err, context.DeadlineExceeded):
		code, msg = CodeTimeout, "no answer within --timeout"
	case status != 0:
		code, msg = fmt.Sprintf("HTTP%d", status), err.Error()
	default:
		code, msg = CodeConnectionError, err.Error()
	}
	return code, msg, status, requestID
}
