package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/goleak"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// collect is a Sink that keeps every result.
type collect struct {
	mu      sync.Mutex
	results []batch.Result
	flushes int
	failAt  int // Write fails on this result number, when set
}

func (c *collect) Write(r batch.Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results = append(c.results, r)
	if c.failAt > 0 && len(c.results) == c.failAt {
		return errors.New("disk full")
	}
	return nil
}

func (c *collect) Flush() error { c.flushes++; return nil }

// byRow returns the results sorted by row, failing unless there is
// exactly one per row 1..n.
func (c *collect) byRow(t *testing.T, n int) []batch.Result {
	t.Helper()
	rs := slices.Clone(c.results)
	slices.SortFunc(rs, func(a, b batch.Result) int { return a.Row - b.Row })
	if len(rs) != n {
		t.Fatalf("got %d results, want one per row: %d", len(rs), n)
	}
	for i, r := range rs {
		if r.Row != i+1 {
			t.Fatalf("result %d is for row %d: rows missing or repeated", i, r.Row)
		}
	}
	return rs
}

// manifest builds a CSV manifest of n users who enable and prefer TOTP.
func manifest(t *testing.T, n int, claims func(i int) cognitotest.Claims) (batch.Manifest, []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,access_token,software_token_enabled,software_token_preferred\n")
	tokens := make([]string, n)
	for i := range n {
		c := cognitotest.Claims{Username: fmt.Sprintf("user%04d", i+1)}
		if claims != nil {
			c = claims(i)
		}
		tokens[i] = cognitotest.Token(c)
		fmt.Fprintf(&b, "u%d,%s,true,true\n", i+1, tokens[i])
	}
	m, err := batch.ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, tokens
}

// serve starts a fake Cognito and a real SDK client for it, as the tool
// makes one.
func serve(t *testing.T, decide func(cognitotest.Call) cognitotest.Reply) (*cognitotest.Server, batch.Client) {
	t.Helper()
	srv := cognitotest.NewServer(decide)
	t.Cleanup(srv.Close)
	client, err := batch.NewClient(awsConfig(), srv.URL, 16)
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

// runInBackground starts the run; wait returns its summary and error
// once it has ended.
func runInBackground(ctx context.Context, r *batch.Runner, m batch.Manifest, sink batch.Sink) (wait func() (*batch.Summary, error)) {
	done := make(chan struct{})
	var sum *batch.Summary
	var err error
	go func() {
		defer close(done)
		sum, err = r.Run(ctx, m, sink)
	}()
	return func() (*batch.Summary, error) {
		<-done
		return sum, err
	}
}

func fastConfig() batch.Config {
	return batch.Config{Workers: 8, MaxAttempts: 5, Timeout: 2 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
}

func TestRetriesAreCountedAndSucceed(t *testing.T) {
	for _, tc := range []struct {
		fault      cognitotest.Fault
		failures   int
		wantStatus int
	}{
		{cognitotest.Throttle, 2, 200},
		{cognitotest.Internal, 1, 200},
		{cognitotest.ServerError, 3, 200},
		{cognitotest.Reset, 2, 200},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			srv, client := serve(t, cognitotest.FailAttempts(tc.failures, tc.fault))
			m, _ := manifest(t, 20, nil)
			sink := &collect{}
			sum, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range sink.byRow(t, 20) {
				if r.Status != batch.StatusSucceeded || r.Attempts != tc.failures+1 || r.HTTPStatus != tc.wantStatus || r.ErrorCode != "" {
					t.Errorf("row %d: %s %s attempts=%d http=%d, want succeeded after %d attempts", r.Row, r.Status, r.ErrorCode, r.Attempts, r.HTTPStatus, tc.failures+1)
				}
				if !strings.HasPrefix(r.RequestID, "req-") {
					t.Errorf("row %d: request id %q, want the server's", r.Row, r.RequestID)
				}
			}
			if calls := len(srv.Calls()); calls != 20*(tc.failures+1) || sum.Attempts != calls {
				t.Errorf("server got %d calls, summary counts %d attempts; want %d", calls, sum.Attempts, 20*(tc.failures+1))
			}
			if !sum.OK() {
				t.Errorf("summary not OK: %+v", sum)
			}
		})
	}
}

func TestFinalErrorsAreNotRetried(t *testing.T) {
	srv, client := serve(t, func(c cognitotest.Call) cognitotest.Reply {
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "NotAuthorizedException", Message: "Access Token has been revoked"}
	})
	m, _ := manifest(t, 5, nil)
	sink := &collect{}
	sum, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 5) {
		want := batch.Result{Status: batch.StatusFailed, ErrorCode: "NotAuthorizedException", ErrorMessage: "Access Token has been revoked", Attempts: 1, HTTPStatus: 400}
		got := batch.Result{Status: r.Status, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, HTTPStatus: r.HTTPStatus}
		if got != want {
			t.Errorf("row %d: got %+v, want %+v", r.Row, got, want)
		}
		if r.RequestID == "" {
			t.Errorf("row %d: no request id", r.Row)
		}
	}
	if len(srv.Calls()) != 5 || sum.OK() {
		t.Errorf("calls=%d ok=%v, want 5 calls and a failed run", len(srv.Calls()), sum.OK())
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	_, client := serve(t, cognitotest.FailAttempts(100, cognitotest.Throttle))
	m, _ := manifest(t, 3, nil)
	sink := &collect{}
	cfg := fastConfig()
	cfg.MaxAttempts = 3
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 3) {
		if r.Status != batch.StatusFailed || r.ErrorCode != "TooManyRequestsException" || r.Attempts != 3 || !strings.Contains(r.ErrorMessage, "gave up after 3 attempts") {
			t.Errorf("row %d: %s %s %q attempts=%d", r.Row, r.Status, r.ErrorCode, r.ErrorMessage, r.Attempts)
		}
	}
}

func TestStalledAttemptsTimeOut(t *testing.T) {
	srv, client := serve(t, cognitotest.FailAttempts(1, cognitotest.Stall))
	m, _ := manifest(t, 4, nil)
	sink := &collect{}
	cfg := fastConfig()
	cfg.Timeout = 100 * time.Millisecond
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 4) {
		if r.Status != batch.StatusSucceeded || r.Attempts != 2 {
			t.Errorf("row %d: %s %s attempts=%d, want success on the 2nd attempt", r.Row, r.Status, r.ErrorCode, r.Attempts)
		}
	}
	if len(srv.Calls()) != 8 {
		t.Errorf("server got %d calls, want 8", len(srv.Calls()))
	}

	_, client = serve(t, cognitotest.FailAttempts(100, cognitotest.Stall))
	m, _ = manifest(t, 2, nil)
	sink = &collect{}
	cfg.MaxAttempts = 2
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 2) {
		if r.Status != batch.StatusFailed || r.ErrorCode != batch.CodeTimeout || r.Attempts != 2 || r.HTTPStatus != 0 {
			t.Errorf("row %d: %s %s attempts=%d http=%d, want failed Timeout after 2", r.Row, r.Status, r.ErrorCode, r.Attempts, r.HTTPStatus)
		}
	}
}

// A third of attempts throttled: every row still finishes, and no retry
// quota of the SDK's fails one.
func TestHeavyThrottlingFinishesEveryRow(t *testing.T) {
	decide := cognitotest.Mix(7, map[cognitotest.Fault]float64{cognitotest.Throttle: 0.34})
	srv, client := serve(t, decide)
	const n = 600
	m, _ := manifest(t, n, nil)
	sink := &collect{}
	cfg := fastConfig()
	cfg.MaxAttempts = 20
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink)
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for _, r := range sink.byRow(t, n) {
		attempts += r.Attempts
		if r.Status != batch.StatusSucceeded {
			t.Errorf("row %d: %s %s %q", r.Row, r.Status, r.ErrorCode, r.ErrorMessage)
		}
	}
	calls := srv.Calls()
	throttled := 0
	for _, c := range calls {
		if decide(c).Fault == cognitotest.Throttle {
			throttled++
		}
	}
	if attempts != len(calls) || sum.Attempts != len(calls) {
		t.Errorf("report counts %d attempts, summary %d, server got %d calls", attempts, sum.Attempts, len(calls))
	}
	if float64(throttled)/float64(len(calls)) < 0.25 {
		t.Errorf("only %d of %d calls throttled: the test did not test heavy throttling", throttled, len(calls))
	}
}

// Every attempt, retries included, waits on the limiter: no one-second
// window at the server holds more than rps + burst calls.
func TestEveryAttemptIsRateLimited(t *testing.T) {
	srv, client := serve(t, cognitotest.FailAttempts(1, cognitotest.Throttle))
	m, _ := manifest(t, 30, nil)
	cfg := fastConfig()
	cfg.RPS, cfg.Burst = 40, 2
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	sink.byRow(t, 30)
	if got := len(srv.Calls()); got != 60 {
		t.Fatalf("server got %d calls, want 60", got)
	}
	// 40/s with burst 2 is 42 in a second as sent; arrival jitter on a
	// loaded machine may bunch a few more. Retries that skipped the
	// limiter would put all 60 calls into the first second.
	if most := srv.MaxInWindow(time.Second); most > 45 {
		t.Errorf("%d calls in one second, limit is 40/s with burst 2", most)
	}
}

func TestRegionsHaveTheirOwnLimiters(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	regions := []string{"eu-west-1", "ap-southeast-2"}
	m, _ := manifest(t, 40, func(i int) cognitotest.Claims {
		return cognitotest.Claims{Username: fmt.Sprintf("u%d", i), Region: regions[i%2]}
	})
	client := &fakeClient{}
	cfg := fastConfig()
	cfg.RPS = 20
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 40) {
		if r.Status != batch.StatusSucceeded || r.Region != regions[(r.Row-1)%2] {
			t.Errorf("row %d: %s region %q", r.Row, r.Status, r.Region)
		}
	}
	at := map[string][]time.Time{}
	var all []time.Time
	for _, c := range client.Calls() {
		at[c.Region] = append(at[c.Region], c.At)
		all = append(all, c.At)
	}
	for _, region := range regions {
		calls := at[region]
		if len(calls) != 20 {
			t.Errorf("%s got %d calls, want 20", region, len(calls))
		}
		if most := cognitotest.MaxInWindow(calls, time.Second); most > 21 {
			t.Errorf("%s got %d calls in one second, limit is 20/s", region, most)
		}
	}
	// Separate quotas: together the regions go faster than one limiter allows.
	if most := cognitotest.MaxInWindow(all, time.Second); most <= 21 {
		t.Errorf("both regions together made only %d calls in a second: they share one limiter", most)
	}
}

func TestDryRunSendsNothingAndForecasts(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Ten rows at 1 row/s: row k goes at k-1 seconds. Tokens expire 6s in,
	// so with a 2s margin rows 6 to 10 (going after 4s) would not be sent.
	m, tokens := manifest(t, 10, func(i int) cognitotest.Claims {
		return cognitotest.Claims{Username: fmt.Sprintf("u%d", i), Exp: now.Add(6 * time.Second)}
	})
	cfg := fastConfig()
	cfg.DryRun, cfg.RPS, cfg.MinTokenTTL = true, 1, 2*time.Second
	cfg.Now = func() time.Time { return now }
	sink := &collect{}
	client := &fakeClient{}
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink)
	if err != nil {
		t.Fatal(err)
	}
	if calls := client.Calls(); len(calls) != 0 {
		t.Errorf("a dry run made %d calls", len(calls))
	}
	for _, r := range sink.byRow(t, 10) {
		want := `{"AccessToken":"<redacted:` + batch.Fingerprint(batch.Token(tokens[r.Row-1])) + `>","SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":true}}`
		if r.Status != batch.StatusDryRun || r.Request != want || r.Attempts != 0 {
			t.Errorf("row %d: %s attempts=%d request %s, want dry_run %s", r.Row, r.Status, r.Attempts, r.Request, want)
		}
	}
	if sum.EstimatedSeconds == nil || *sum.EstimatedSeconds != 9 {
		t.Errorf("estimated %v s, want 9", sum.EstimatedSeconds)
	}
	if sum.WouldExpire == nil || *sum.WouldExpire != 5 {
		t.Errorf("would expire: %d, want 5", *sum.WouldExpire)
	}
	if !sum.OK() {
		t.Error("a dry run of valid rows is not OK")
	}
}

func TestTokenTooCloseToExpiryIsNotSent(t *testing.T) {
	srv, client := serve(t, nil)
	m, _ := manifest(t, 2, func(i int) cognitotest.Claims {
		return cognitotest.Claims{Username: fmt.Sprintf("u%d", i), Exp: time.Now().Add(time.Duration(i)*time.Hour + 3*time.Second)}
	})
	cfg := fastConfig()
	cfg.MinTokenTTL = 10 * time.Second
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	rs := sink.byRow(t, 2)
	if rs[0].Status != batch.StatusInvalid || rs[0].ErrorCode != batch.CodeTokenExpired || rs[0].Attempts != 0 {
		t.Errorf("row 1: %s %s attempts=%d, want invalid TokenExpired", rs[0].Status, rs[0].ErrorCode, rs[0].Attempts)
	}
	if rs[1].Status != batch.StatusSucceeded || len(srv.Calls()) != 1 {
		t.Errorf("row 2: %s; server calls %d, want 1", rs[1].Status, len(srv.Calls()))
	}
}

func TestDuplicateAndConflictingRows(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	alice := func() string { return cognitotest.Token(cognitotest.Claims{Username: "alice"}) }
	bob := cognitotest.Token(cognitotest.Claims{Username: "bob"})
	csv := "access_token,sms_enabled\n" + alice() + ",true\n" + bob + ",true\n" + alice() + ",true\n" + alice() + ",false\n"
	m, err := batch.ReadCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	client := &fakeClient{}
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	rs := sink.byRow(t, 4)
	want := []struct {
		status batch.Status
		code   string
	}{{batch.StatusSucceeded, ""}, {batch.StatusSucceeded, ""}, {batch.StatusSkipped, batch.CodeDuplicateUser}, {batch.StatusInvalid, batch.CodeConflictingRow}}
	for i, w := range want {
		if rs[i].Status != w.status || rs[i].ErrorCode != w.code {
			t.Errorf("row %d: %s %s, want %s %s", i+1, rs[i].Status, rs[i].ErrorCode, w.status, w.code)
		}
	}
	if !strings.Contains(rs[2].ErrorMessage, "row 1") || !strings.Contains(rs[3].ErrorMessage, "row 1") {
		t.Errorf("messages should name the first row: %q, %q", rs[2].ErrorMessage, rs[3].ErrorMessage)
	}
	if n := client.Regions()["us-east-1"]; n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestInterruptReportsEveryRow(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	m, _ := manifest(t, 50, nil)
	// Each call waits until released, so that the run is interrupted
	// with calls in flight.
	started, release := make(chan struct{}, 100), make(chan struct{})
	client := &fakeClient{SetUserMFAPreferenceFn: answerWhen(func() <-chan struct{} {
		started <- struct{}{}
		return release
	})}
	cfg := fastConfig()
	cfg.Workers = 4
	ctx, cancel := context.WithCancel(context.Background())
	sink := &collect{}
	wait := runInBackground(ctx, &batch.Runner{Client: client, Config: cfg}, m, sink)
	for range 4 {
		<-started
	}
	cancel()
	close(release) // calls in flight finish after the interrupt
	sum, err := wait()
	if !errors.Is(err, context.Canceled) || !sum.Interrupted {
		t.Fatalf("err=%v interrupted=%v, want context.Canceled and an interrupted summary", err, sum.Interrupted)
	}
	counts := map[batch.Status]int{}
	for _, r := range sink.byRow(t, 50) {
		counts[r.Status]++
		if r.Status == batch.StatusNotAttempted && r.ErrorCode != batch.CodeInterrupted {
			t.Errorf("row %d: not_attempted with %q", r.Row, r.ErrorCode)
		}
	}
	if counts[batch.StatusSucceeded] != 4 || counts[batch.StatusNotAttempted] != 46 {
		t.Errorf("statuses %v, want the 4 in flight succeeded and 46 not_attempted", counts)
	}
}

func TestSinkFailureStopsTheRun(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	m, _ := manifest(t, 200, nil)
	sink := &collect{failAt: 3}
	_, err := (&batch.Runner{Client: &fakeClient{}, Config: fastConfig()}).Run(context.Background(), m, sink)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the sink's error", err)
	}
}

// errManifest yields some rows, then fails.
type errManifest struct {
	m    batch.Manifest
	left int
}

func (e *errManifest) Next() (batch.Row, error) {
	if e.left == 0 {
		return batch.Row{}, io.ErrUnexpectedEOF
	}
	e.left--
	return e.m.Next()
}

func TestManifestFailureIsARunError(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	m, _ := manifest(t, 10, nil)
	sink := &collect{}
	_, err := (&batch.Runner{Client: &fakeClient{}, Config: fastConfig()}).Run(context.Background(), &errManifest{m, 4}, sink)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want the manifest's error", err)
	}
	// The rows read before the failure are still sent and reported.
	for _, r := range sink.byRow(t, 4) {
		if r.Status != batch.StatusSucceeded {
			t.Errorf("row %d: %s", r.Row, r.Status)
		}
	}
}

// No token, nor any 16 characters of one, appears in any result.
func TestResultsNeverHoldTokens(t *testing.T) {
	srv, client := serve(t, func(c cognitotest.Call) cognitotest.Reply {
		// A service message that quotes the token must not reach the report.
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "InvalidParameterException", Message: "bad token " + c.Token[10:40]}
	})
	_ = srv
	m, tokens := manifest(t, 5, nil)
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, 5) {
		text := fmt.Sprintf("%+v", r)
		for _, tok := range tokens {
			for i := 0; i+16 <= len(tok); i++ {
				if strings.Contains(text, tok[i:i+16]) {
					t.Fatalf("row %d holds a piece of a token: %s", r.Row, text)
				}
			}
		}
		if r.Status != batch.StatusFailed || r.ErrorCode != "InvalidParameterException" || !strings.Contains(r.ErrorMessage, "withheld") {
			t.Errorf("row %d: %s %s %q", r.Row, r.Status, r.ErrorCode, r.ErrorMessage)
		}
	}
}

func awsConfig() aws.Config { return aws.Config{Region: "us-east-1"} }

// A service message quoting the whole token (as moto's does) keeps its
// words, with the token's redacted name in its place.
func TestQuotedTokenIsRedactedInMessages(t *testing.T) {
	_, client := serve(t, func(c cognitotest.Call) cognitotest.Reply {
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "NotAuthorizedException", Message: "Invalid token: " + c.Token}
	})
	m, tokens := manifest(t, 1, nil)
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	r := sink.byRow(t, 1)[0]
	if want := "Invalid token: <redacted:" + batch.Fingerprint(batch.Token(tokens[0])) + ">"; r.ErrorMessage != want {
		t.Errorf("message %q, want %q", r.ErrorMessage, want)
	}
}

// TestConnectionsAreReused checks that calls share kept-alive connections:
// a row costs no new connection (and, against the service, no TLS
// handshake). At the start workers may race to dial, so up to two per
// worker is allowed, but never one per row.
func TestConnectionsAreReused(t *testing.T) {
	const rows, workers = 600, 8
	srv := cognitotest.NewServer(nil)
	t.Cleanup(srv.Close)
	client, err := batch.NewClient(awsConfig(), srv.URL, workers)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := manifest(t, rows, nil)
	cfg := fastConfig()
	cfg.Workers = workers
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, r := range sink.byRow(t, rows) {
		if r.Status != batch.StatusSucceeded {
			t.Fatalf("row %d: %s %s", r.Row, r.Status, r.ErrorMessage)
		}
	}
	if n := srv.Connections(); n > 2*workers {
		t.Errorf("%d rows with %d workers opened %d connections, want at most %d", rows, workers, n, 2*workers)
	}
}
