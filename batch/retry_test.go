package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// sdkFailure wraps cause the way the SDK wraps an answer from the service:
// an OperationError around an awshttp.ResponseError carrying the HTTP
// status and the request id.
func sdkFailure(status int, requestID string, cause error) error {
	return &smithy.OperationError{
		ServiceID:     "Cognito Identity Provider",
		OperationName: "SetUserMFAPreference",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      cause,
			},
			RequestID: requestID,
		},
	}
}

// sdkSendFailure wraps cause the way the SDK wraps a call that got no answer.
func sdkSendFailure(cause error) error {
	return &smithy.OperationError{
		ServiceID:     "Cognito Identity Provider",
		OperationName: "SetUserMFAPreference",
		Err: &smithyhttp.RequestSendError{Err: &url.Error{
			Op:  "Post",
			URL: "https://cognito-idp.us-east-1.amazonaws.com/",
			Err: cause,
		}},
	}
}

func genericAPIError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg}
}

func TestShouldRetryAndDescribe(t *testing.T) {
	resetErr := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	refusedErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	html503 := &smithy.DeserializationError{Err: errors.New("failed to decode response body, invalid character '<' looking for beginning of value")}
	tests := []struct {
		name string
		err  error
		// runCancelled cancels the run's context before asking.
		runCancelled bool
		wantRetry    bool
		// what the report shows; wantMsg "" means err.Error()
		wantCode   string
		wantMsg    string
		wantStatus int
		wantReqID  string
	}{
		{
			name:      "TooManyRequestsException",
			err:       sdkFailure(400, "rid-1", genericAPIError("TooManyRequestsException", "Rate exceeded")),
			wantRetry: true,
			wantCode:  "TooManyRequestsException", wantMsg: "Rate exceeded", wantStatus: 400, wantReqID: "rid-1",
		},
		{
			name:      "TooManyRequestsException as the SDK's typed error",
			err:       sdkFailure(400, "rid-2", &types.TooManyRequestsException{Message: aws.String("Rate exceeded")}),
			wantRetry: true,
			wantCode:  "TooManyRequestsException", wantMsg: "Rate exceeded", wantStatus: 400, wantReqID: "rid-2",
		},
		{
			name:      "InternalErrorException",
			err:       sdkFailure(500, "rid-3", genericAPIError("InternalErrorException", "Internal server error")),
			wantRetry: true,
			wantCode:  "InternalErrorException", wantMsg: "Internal server error", wantStatus: 500, wantReqID: "rid-3",
		},
		{
			name:      "NotAuthorizedException",
			err:       sdkFailure(400, "rid-4", genericAPIError("NotAuthorizedException", "Access Token has expired")),
			wantRetry: false,
			wantCode:  "NotAuthorizedException", wantMsg: "Access Token has expired", wantStatus: 400, wantReqID: "rid-4",
		},
		{
			name:      "NotAuthorizedException as the SDK's typed error",
			err:       sdkFailure(400, "rid-5", &types.NotAuthorizedException{Message: aws.String("Access Token has been revoked")}),
			wantRetry: false,
			wantCode:  "NotAuthorizedException", wantMsg: "Access Token has been revoked", wantStatus: 400, wantReqID: "rid-5",
		},
		{
			name:      "InvalidParameterException",
			err:       sdkFailure(400, "rid-6", genericAPIError("InvalidParameterException", "1 validation error detected")),
			wantRetry: false,
			wantCode:  "InvalidParameterException", wantMsg: "1 validation error detected", wantStatus: 400, wantReqID: "rid-6",
		},
		{
			name:      "API error without a message shows the error's text",
			err:       sdkFailure(400, "rid-7", genericAPIError("UserNotFoundException", "")),
			wantRetry: false,
			wantCode:  "UserNotFoundException", wantMsg: "api error UserNotFoundException: ", wantStatus: 400, wantReqID: "rid-7",
		},
		{
			name:      "HTTP 503 wrapping a non-API error",
			err:       sdkFailure(503, "rid-8", html503),
			wantRetry: true,
			wantCode:  "HTTP503", wantStatus: 503, wantReqID: "rid-8",
		},
		{
			name:      "HTTP 502 with an unknown error type",
			err:       sdkFailure(502, "", genericAPIError("UnknownError", "UnknownError")),
			wantRetry: true,
			wantCode:  "HTTP502", wantMsg: "UnknownError", wantStatus: 502,
		},
		{
			name:      "5xx with a non-retryable-looking code is still retried",
			err:       sdkFailure(503, "rid-9", genericAPIError("ServiceUnavailable", "try later")),
			wantRetry: true,
			wantCode:  "ServiceUnavailable", wantMsg: "try later", wantStatus: 503, wantReqID: "rid-9",
		},
		{
			name:      "HTTP 400 with an unknown error type",
			err:       sdkFailure(400, "rid-10", genericAPIError("UnknownError", "UnknownError")),
			wantRetry: false,
			wantCode:  "HTTP400", wantMsg: "UnknownError", wantStatus: 400, wantReqID: "rid-10",
		},
		{
			name:      "attempt timeout",
			err:       context.DeadlineExceeded,
			wantRetry: true,
			wantCode:  CodeTimeout, wantMsg: "no answer within --timeout",
		},
		{
			name:      "attempt timeout as the SDK wraps it",
			err:       sdkSendFailure(context.DeadlineExceeded),
			wantRetry: true,
			wantCode:  CodeTimeout, wantMsg: "no answer within --timeout",
		},
		{
			name:      "connection reset",
			err:       sdkSendFailure(resetErr),
			wantRetry: true,
			wantCode:  CodeConnectionError, wantMsg: "connection reset by cognito-idp.us-east-1.amazonaws.com",
		},
		{
			name:      "bare ECONNRESET",
			err:       syscall.ECONNRESET,
			wantRetry: true,
			wantCode:  CodeConnectionError, wantMsg: "connection reset",
		},
		{
			name:      "connection refused",
			err:       sdkSendFailure(refusedErr),
			wantRetry: true,
			wantCode:  CodeConnectionError, wantMsg: "connection refused by cognito-idp.us-east-1.amazonaws.com",
		},
		{
			name:      "answer cut short",
			err:       fmt.Errorf("reading response: %w", io.ErrUnexpectedEOF),
			wantRetry: true,
			wantCode:  CodeConnectionError, wantMsg: "the connection closed before an answer came",
		},
		{
			name:         "throttled after the run was cancelled",
			err:          sdkFailure(400, "rid-11", genericAPIError("TooManyRequestsException", "Rate exceeded")),
			runCancelled: true,
			wantRetry:    false,
			wantCode:     "TooManyRequestsException", wantMsg: "Rate exceeded", wantStatus: 400, wantReqID: "rid-11",
		},
		{
			name:         "HTTP 503 after the run was cancelled",
			err:          sdkFailure(503, "rid-12", html503),
			runCancelled: true,
			wantRetry:    false,
			wantCode:     "HTTP503", wantStatus: 503, wantReqID: "rid-12",
		},
		{
			name:         "connection reset after the run was cancelled",
			err:          sdkSendFailure(resetErr),
			runCancelled: true,
			wantRetry:    false,
			wantCode:     CodeConnectionError, wantMsg: "connection reset by cognito-idp.us-east-1.amazonaws.com",
		},
		{
			name:         "timeout after the run was cancelled",
			err:          context.DeadlineExceeded,
			runCancelled: true,
			wantRetry:    false,
			wantCode:     CodeTimeout, wantMsg: "no answer within --timeout",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.runCancelled {
				cancel()
			}
			if got := shouldRetry(ctx, tc.err); got != tc.wantRetry {
				t.Errorf("shouldRetry = %v, want %v", got, tc.wantRetry)
			}
			wantMsg := tc.wantMsg
			if wantMsg == "" {
				wantMsg = tc.err.Error()
			}
			c := classify(tc.err)
			code, msg, status, reqID := c.Code, c.Message, c.HTTPStatus, c.RequestID
			if code != tc.wantCode || msg != wantMsg || status != tc.wantStatus || reqID != tc.wantReqID {
				t.Errorf("classify =\n (%q, %q, %d, %q)\nwant\n (%q, %q, %d, %q)",
					code, msg, status, reqID, tc.wantCode, wantMsg, tc.wantStatus, tc.wantReqID)
			}
		})
	}
	t.Run("nil error", func(t *testing.T) {
		if shouldRetry(context.Background(), nil) {
			t.Error("shouldRetry(nil) = true, want false")
		}
	})
}

// TestShouldRetrySDKErrors classifies the errors the real SDK client
// returns for each of the test server's faults, so the hand-built chains
// above cannot drift from what the SDK really returns.
func TestShouldRetrySDKErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      cognitotest.Reply
		timeout    time.Duration // the attempt's limit; 0 for none
		wantRetry  bool
		wantCode   string
		wantMsg    string // "" to skip
		wantStatus int
		wantReqID  bool
	}{
		{name: "throttled", reply: cognitotest.Reply{Fault: cognitotest.Throttle}, wantRetry: true,
			wantCode: "TooManyRequestsException", wantMsg: "Rate exceeded", wantStatus: 400, wantReqID: true},
		{name: "internal error", reply: cognitotest.Reply{Fault: cognitotest.Internal}, wantRetry: true,
			wantCode: "InternalErrorException", wantMsg: "Internal server error", wantStatus: 500, wantReqID: true},
		{name: "HTML 503 from a load balancer", reply: cognitotest.Reply{Fault: cognitotest.ServerError}, wantRetry: true,
			wantCode: "HTTP503", wantStatus: 503, wantReqID: true},
		{name: "token expired", reply: cognitotest.Reply{Fault: cognitotest.APIError}, wantRetry: false,
			wantCode: "NotAuthorizedException", wantMsg: "Access Token has expired", wantStatus: 400, wantReqID: true},
		{name: "invalid parameter", reply: cognitotest.Reply{Fault: cognitotest.APIError, Code: "InvalidParameterException", Message: "bad input"}, wantRetry: false,
			wantCode: "InvalidParameterException", wantMsg: "bad input", wantStatus: 400, wantReqID: true},
		{name: "connection reset", reply: cognitotest.Reply{Fault: cognitotest.Reset}, wantRetry: true,
			wantCode: CodeConnectionError},
		{name: "no answer within the attempt's limit", reply: cognitotest.Reply{Fault: cognitotest.Stall}, timeout: 50 * time.Millisecond, wantRetry: true,
			wantCode: CodeTimeout, wantMsg: "no answer within --timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := cognitotest.NewServer(func(cognitotest.Call) cognitotest.Reply { return tc.reply })
			defer srv.Close()
			client, err := NewClient(aws.Config{Region: "us-east-1"}, srv.URL, 1)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			ctx := context.Background()
			attempt := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				attempt, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
			_, err = client.SetUserMFAPreference(attempt, Settings{SMS: Factor{Enabled: True}}.Input(tok))
			if err == nil {
				t.Fatal("SetUserMFAPreference succeeded, want an error")
			}
			if got := shouldRetry(ctx, err); got != tc.wantRetry {
				t.Errorf("shouldRetry(%v) = %v, want %v", err, got, tc.wantRetry)
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if shouldRetry(cancelled, err) {
				t.Errorf("shouldRetry with the run cancelled = true, want false")
			}
			c := classify(err)
			code, msg, status, reqID := c.Code, c.Message, c.HTTPStatus, c.RequestID
			if code != tc.wantCode || status != tc.wantStatus {
				t.Errorf("classify code, status = %q, %d; want %q, %d (error %v)", code, status, tc.wantCode, tc.wantStatus, err)
			}
			if tc.wantMsg != "" && msg != tc.wantMsg {
				t.Errorf("classify message = %q, want %q", msg, tc.wantMsg)
			}
			if tc.wantReqID && reqID != cognitotest.RequestID(1) {
				t.Errorf("classify request id = %q, want %q", reqID, cognitotest.RequestID(1))
			}
			if !tc.wantReqID && reqID != "" {
				t.Errorf("classify request id = %q, want none", reqID)
			}
			assertNoPieceOf(t, tok, msg)
		})
	}
}

// assertNoPieceOf fails when text holds 16 characters in a row of token.
func assertNoPieceOf(t *testing.T, token, text string) {
	t.Helper()
	for i := 0; i+16 <= len(token); i++ {
		if piece := token[i : i+16]; strings.Contains(text, piece) {
			t.Errorf("%q holds the token piece %q", text, piece)
			return
		}
	}
}

func TestBackoff(t *testing.T) {
	const (
		base = 200 * time.Millisecond
		max  = 20 * time.Second
	)
	half := func() float64 { return 0.5 }
	zero := func() float64 { return 0 }
	almostOne := func() float64 { return math.Nextafter(1, 0) }
	tests := []struct {
		name      string
		n         int
		base, max time.Duration
		rnd       func() float64
		// want is exact; when nearCeil is set, want is the ceiling and the
		// result must be just under it.
		want     time.Duration
		nearCeil bool
	}{
		{name: "first retry, half of base", n: 1, base: base, max: max, rnd: half, want: 100 * time.Millisecond},
		{name: "second retry doubles", n: 2, base: base, max: max, rnd: half, want: 200 * time.Millisecond},
		{name: "third retry doubles again", n: 3, base: base, max: max, rnd: half, want: 400 * time.Millisecond},
		{name: "seventh retry", n: 7, base: base, max: max, rnd: half, want: 6400 * time.Millisecond},
		{name: "capped at max", n: 8, base: base, max: max, rnd: half, want: 10 * time.Second},
		{name: "stays capped", n: 20, base: base, max: max, rnd: half, want: 10 * time.Second},
		{name: "rnd 0 gives no wait", n: 1, base: base, max: max, rnd: zero, want: 0},
		{name: "rnd 0 when capped gives no wait", n: 30, base: base, max: max, rnd: zero, want: 0},
		{name: "rnd just under 1, first retry", n: 1, base: base, max: max, rnd: almostOne, want: base, nearCeil: true},
		{name: "rnd just under 1, fourth retry", n: 4, base: base, max: max, rnd: almostOne, want: 8 * base, nearCeil: true},
		{name: "rnd just under 1, capped", n: 12, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n 31", n: 31, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n 32", n: 32, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n 63", n: 63, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n 64", n: 64, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n 1000", n: 1000, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "n MaxInt", n: math.MaxInt, base: base, max: max, rnd: almostOne, want: max, nearCeil: true},
		{name: "large base, n 40", n: 40, base: time.Hour, max: 2 * time.Hour, rnd: almostOne, want: 2 * time.Hour, nearCeil: true},
		{
			name: "large base whose doubling overflows", n: 28, base: 137439 * time.Millisecond, max: 24 * time.Hour, rnd: almostOne,
			want: 24 * time.Hour, nearCeil: true,
		},
		{name: "base above max is capped", n: 1, base: time.Minute, max: 10 * time.Second, rnd: half, want: 5 * time.Second},
		{name: "n 0 gives no wait", n: 0, base: base, max: max, rnd: almostOne, want: 0},
		{name: "negative n gives no wait", n: -3, base: base, max: max, rnd: almostOne, want: 0},
		{name: "zero base gives no wait", n: 3, base: 0, max: max, rnd: almostOne, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Backoff(tc.n, tc.base, tc.max, tc.rnd)
			if !tc.nearCeil {
				if got != tc.want {
					t.Errorf("Backoff(%d, %v, %v) = %v, want %v", tc.n, tc.base, tc.max, got, tc.want)
				}
				return
			}
			if got >= tc.want || got < tc.want-tc.want/1e6 {
				t.Errorf("Backoff(%d, %v, %v) = %v, want just under %v", tc.n, tc.base, tc.max, got, tc.want)
			}
		})
	}
	t.Run("never above max, never decreasing in n", func(t *testing.T) {
		for _, b := range []time.Duration{time.Millisecond, base, time.Second, 5 * time.Second} {
			prev := time.Duration(0)
			for n := 1; n <= 100; n++ {
				got := Backoff(n, b, max, almostOne)
				if got > max || got < prev {
					t.Fatalf("base %v: Backoff(%d) = %v after %v; want non-decreasing and at most %v", b, n, got, prev, max)
				}
				prev = got
			}
		}
	})
}
