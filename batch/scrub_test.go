package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// echo answers as a server that quotes the caller's token back would,
// by the token's username.
func echo(c cognitotest.Call) cognitotest.Reply {
	tok := c.Token
	switch user := username(tok); user {
	case "user0001": // the whole token everywhere
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "Bad" + tok, Message: "Invalid token " + tok, RequestID: tok}
	case "user0002": // pieces of it
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: tok[:30], Message: "bad " + tok[5:30], RequestID: "req-" + tok[40:60]}
	case "user0003": // prose and control characters
		return cognitotest.Reply{Fault: cognitotest.Throttle, Code: "Please call support now", Message: "line one\nline two\x1b[2J", RequestID: "req 3\nlevel=ERROR"}
	case "user0004": // success, with the token as its request id
		return cognitotest.Reply{RequestID: tok}
	}
	return cognitotest.Reply{Fault: cognitotest.APIError} // NotAuthorizedException, as the service says it
}

// username reads a fake token's username claim.
func username(tok string) string {
	c, err := batch.ParseToken(batch.Token(tok))
	if err != nil {
		return ""
	}
	return c.Username
}

// leak returns a tokenPiece-byte piece of one of tokens that text holds.
func leak(text string, tokens []string) string {
	for _, tok := range tokens {
		for i := 0; i+16 <= len(tok); i++ {
			if strings.Contains(text, tok[i:i+16]) {
				return tok[i : i+16]
			}
		}
	}
	return ""
}

// A server that echoes the token in its error code, message and request
// id leaves no piece of it in the results, the summary or the debug log,
// and what it says is shown as a code, one line, and a request id.
func TestServerEchoesAreScrubbed(t *testing.T) {
	_, client := serve(t, echo)
	m, tokens := manifest(t, 5, nil)
	var log bytes.Buffer
	cfg := fastConfig()
	cfg.MaxAttempts = 2
	cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sink := &collect{}
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink)
	if err != nil {
		t.Fatal(err)
	}
	type shown struct {
		status                   batch.Status
		code, message, requestID string
	}
	want := []shown{
		{batch.StatusFailed, "HTTP400", "the service's error code is withheld (it is not an exception name): Invalid token <redacted:" + batch.Fingerprint(batch.Token(tokens[0])) + ">", "<withheld>"},
		{batch.StatusFailed, "HTTP400", "the service's error code is withheld (it quoted the access token): <message withheld: it quoted the access token>", "<withheld>"},
		{batch.StatusFailed, "HTTP400", "the service's error code is withheld (it is not an exception name): line one line two [2J", "<withheld>"},
		{batch.StatusSucceeded, "", "", "<withheld>"},
		{batch.StatusFailed, "NotAuthorizedException", "Access Token has expired", "req-00000N"},
	}
	for i, r := range sink.byRow(t, 5) {
		got := shown{r.Status, r.ErrorCode, r.ErrorMessage, r.RequestID}
		if r.Row == 5 && regexp.MustCompile(`^req-\d{6}$`).MatchString(r.RequestID) {
			got.requestID = "req-00000N" // the fake's own, by arrival
		}
		if got != want[i] {
			t.Errorf("row %d shows %+v\nwant %+v", r.Row, got, want[i])
		}
		if p := leak(fmt.Sprintf("%+v", r), tokens); p != "" {
			t.Errorf("row %d holds %q of a token", r.Row, p)
		}
	}
	if codes := slices.Sorted(maps.Keys(sum.ErrorCodes)); !slices.Equal(codes, []string{"HTTP400", "NotAuthorizedException"}) {
		t.Errorf("summary error codes %q", codes)
	}
	js, _ := json.Marshal(sum)
	if p := leak(string(js)+fmt.Sprintf("%+v", *sum), tokens); p != "" {
		t.Errorf("summary holds %q of a token", p)
	}
	if p := leak(log.String(), tokens); p != "" {
		t.Errorf("debug log holds %q of a token", p)
	}
	if !strings.Contains(log.String(), "error_code=HTTP400") || strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("debug log:\n%s", log.String())
	}
}

// An id that holds its row's token, or a piece of it, is withheld from the
// report and the row refused, before any call.
func TestIDsHoldingTokensAreWithheld(t *testing.T) {
	tok := func(i int) string { return cognitotest.Token(cognitotest.Claims{Username: fmt.Sprintf("user%d", i)}) }
	tokens := []string{tok(1), tok(2), tok(3), tok(4), tok(5)}
	ids := []string{
		"Bearer " + tokens[0],
		"'" + tokens[1] + "'",
		tokens[2][:30],
		"user " + tokens[3][len(tokens[3])-20:],
		"alice@example.com",
	}
	var b strings.Builder
	b.WriteString("id,access_token,sms_enabled\n")
	for i := range tokens {
		fmt.Fprintf(&b, "%q,%s,true\n", ids[i], tokens[i])
	}
	m, err := batch.ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv, client := serve(t, nil)
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: fastConfig()}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for i, r := range sink.byRow(t, 5) {
		if p := leak(fmt.Sprintf("%+v", r), tokens); p != "" {
			t.Errorf("row %d holds %q of a token", r.Row, p)
		}
		if i == 4 {
			if r.ID != ids[4] || r.Status != batch.StatusSucceeded {
				t.Errorf("row 5: id %q, %s", r.ID, r.Status)
			}
			continue
		}
		if r.ID != "" || r.Status != batch.StatusInvalid || r.ErrorCode != batch.CodeInvalidRow || !strings.Contains(r.ErrorMessage, "withheld") {
			t.Errorf("row %d: id %.20q, %s %s %q; want the id withheld and the row invalid", r.Row, r.ID, r.Status, r.ErrorCode, r.ErrorMessage)
		}
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls, want 1 (row 5's)", n)
	}
}

// A halt reason quotes what the first failing calls said: when the server
// quotes what every token of the pool shares (the JWT's header), the
// reason says the message was withheld, and no piece of a token is in it.
func TestHaltReasonHoldsNoToken(t *testing.T) {
	_, client := serve(t, func(c cognitotest.Call) cognitotest.Reply {
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "ResourceNotFoundException", Message: "No pool for token " + c.Token[:30]}
	})
	m, tokens := manifest(t, 30, nil)
	cfg := fastConfig()
	cfg.Workers = 1
	sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, &collect{})
	var he *batch.HaltError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want a halt", err)
	}
	if p := leak(sum.Halted+err.Error(), tokens); p != "" {
		t.Errorf("halt reason %q holds %q of a token", sum.Halted, p)
	}
	if !strings.Contains(sum.Halted, "ResourceNotFoundException (<message withheld: it quoted the access token>)") {
		t.Errorf("halt reason %q", sum.Halted)
	}
}
