package batch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"go.uber.org/goleak"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    batch.Threshold
		wantErr bool
	}{
		{in: "50%", want: batch.Threshold{Percent: 50}},
		{in: "0.5%", want: batch.Threshold{Percent: 0.5}},
		{in: "100%", want: batch.Threshold{Percent: 100}},
		{in: "10", want: batch.Threshold{Count: 10}},
		{in: "off", want: batch.Threshold{}},
		{in: "0", wantErr: true},
		{in: "-3", wantErr: true},
		{in: "0%", wantErr: true},
		{in: "150%", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := batch.ParseThreshold(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseThreshold(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// failing answers every call with code: the failures a threshold counts.
func failing(code, msg string) func(cognitotest.Call) cognitotest.Reply {
	return func(cognitotest.Call) cognitotest.Reply {
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: code, Message: msg}
	}
}

func TestHalts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     batch.Threshold
		rows      int
		code, msg string
		// wantSent: how many rows had failed when the run halted, 0 for no
		// halt. With one worker the halt is exact: no row is sent after it.
		wantSent int
		reason   string
	}{
		{name: "count", limit: batch.Threshold{Count: 3}, rows: 10, code: "NotAuthorizedException", msg: "Access Token has expired",
			wantSent: 4, reason: "4 rows failed, more than --max-failures 3"},
		{name: "percent waits for 100 rows", limit: batch.Threshold{Percent: 50}, rows: 150, code: "NotAuthorizedException", msg: "Access Token has expired",
			wantSent: 100, reason: "100 of 100 rows sent failed, more than --max-failures 50%"},
		{name: "percent under 100 rows never halts", limit: batch.Threshold{Percent: 50}, rows: 90, code: "NotAuthorizedException", msg: "Access Token has expired"},
		{name: "pool-wide error halts early", rows: 50, code: "ResourceNotFoundException", msg: "User pool us-east-1_TEST does not exist.",
			wantSent: 20, reason: "the first 20 calls all failed with ResourceNotFoundException"},
		{name: "per-user errors do not halt early", rows: 50, code: "InvalidParameterException", msg: "User has not verified software token mfa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			srv, client := serve(t, failing(tc.code, tc.msg))
			m, _ := manifest(t, tc.rows, nil)
			cfg := fastConfig()
			cfg.Workers, cfg.MaxFailures = 1, tc.limit
			sink := &collect{}
			sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink)
			counts := map[batch.Status]int{}
			for _, r := range sink.byRow(t, tc.rows) {
				counts[r.Status]++
				if r.Status == batch.StatusNotAttempted && (r.ErrorCode != batch.CodeHalted || !strings.Contains(r.ErrorMessage, tc.reason)) {
					t.Errorf("row %d: %s %q", r.Row, r.ErrorCode, r.ErrorMessage)
				}
			}
			var he *batch.HaltError
			if tc.wantSent == 0 {
				if err != nil || counts[batch.StatusFailed] != tc.rows {
					t.Fatalf("err=%v statuses=%v, want every row failed and no halt", err, counts)
				}
				return
			}
			if !errors.As(err, &he) || !strings.Contains(sum.Halted, tc.reason) || sum.OK() {
				t.Fatalf("err=%v halted=%q, want a halt: %s", err, sum.Halted, tc.reason)
			}
			sent := len(srv.Calls())
			if sent != tc.wantSent || counts[batch.StatusFailed] != sent || counts[batch.StatusNotAttempted] != tc.rows-sent {
				t.Errorf("calls=%d statuses=%v, want %d sent and failed, the rest not_attempted", sent, counts, tc.wantSent)
			}
		})
	}
}

// TestHaltIsAHardBound runs many workers at an unlimited rate: once the
// threshold is crossed no further row is sent, so the calls are at most
// the threshold's rows plus those already in flight.
func TestHaltIsAHardBound(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const workers, limit, rows = 8, 3, 400
	srv, client := serve(t, func(cognitotest.Call) cognitotest.Reply {
		return cognitotest.Reply{Fault: cognitotest.APIError, Delay: 5 * time.Millisecond}
	})
	m, _ := manifest(t, rows, nil)
	cfg := fastConfig()
	cfg.Workers, cfg.MaxFailures = workers, batch.Threshold{Count: limit}
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, &collect{})
	var he *batch.HaltError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want a halt", err)
	}
	// limit+1 rows cross the threshold; the other workers may each have
	// one call in flight by then.
	if n := len(srv.Calls()); n > limit+1+workers-1 {
		t.Errorf("%d calls, want at most %d: rows were sent after the halt", n, limit+workers)
	}
	if sum.Statuses[batch.StatusNotAttempted] < rows-limit-workers {
		t.Errorf("statuses %v, want the rest not_attempted", sum.Statuses)
	}
}

// TestTransportErrorHalts: the first 20 calls all refused the same way
// halt the run, retries included, whatever --max-failures says.
func TestTransportErrorHalts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: every call is refused
	client, err := batch.NewClient(aws.Config{Region: "us-east-1"}, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := manifest(t, 50, nil)
	cfg := fastConfig()
	cfg.Workers = 1
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, &collect{})
	var he *batch.HaltError
	if !errors.As(err, &he) || !strings.HasPrefix(he.Reason, "the first 20 calls all failed with ConnectionError (connection refused by 127.0.0.1:") {
		t.Fatalf("err = %v, want a halt after 20 refused calls", err)
	}
	if sum.Attempts != 20 || sum.Statuses[batch.StatusFailed] != 4 || sum.Statuses[batch.StatusNotAttempted] != 46 {
		t.Errorf("attempts %d, statuses %v; want 20 calls: 4 rows failed after 5 attempts each, 46 not_attempted", sum.Attempts, sum.Statuses)
	}
}

func TestAlreadyDoneRowsAreSkipped(t *testing.T) {
	srv, client := serve(t, nil)
	m, tokens := manifest(t, 6, nil)
	done := map[string]bool{}
	for _, tok := range tokens[:4] {
		done[batch.Fingerprint(batch.Token(tok))] = true
	}
	cfg := fastConfig()
	// The first row's earlier report read its state: the skipped row
	// carries it, so the resumed report still says what to roll back.
	before, _ := batch.ParseState("totp*")
	after, _ := batch.ParseState("sms*,totp")
	first := batch.Fingerprint(batch.Token(tokens[0]))
	cfg.AlreadyDone = func(k batch.DoneKey) (batch.Prior, bool) {
		if k.TokenSHA256 == first {
			return batch.Prior{Before: before, After: after, Action: batch.ActionChange}, true
		}
		return batch.Prior{}, done[k.TokenSHA256]
	}
	cfg.MinTokenTTL = 2 * 3600e9 // every token "expires" too soon: done rows are skipped all the same
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 6) {
		want := fmt.Sprint(batch.StatusSkipped, batch.CodeAlreadySucceeded)
		if r.Row > 4 {
			want = fmt.Sprint(batch.StatusInvalid, batch.CodeTokenExpired)
		}
		if got := fmt.Sprint(r.Status, r.ErrorCode); got != want || r.Attempts != 0 {
			t.Errorf("row %d: %s attempts=%d, want %s", r.Row, got, r.Attempts, want)
		}
		wantPrior := "  "
		if r.Row == 1 {
			wantPrior = "change totp* sms*,totp"
		}
		if got := fmt.Sprint(r.Action, " ", r.Before, " ", r.After); got != wantPrior {
			t.Errorf("row %d: action, before and after %q, want %q", r.Row, got, wantPrior)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
}
