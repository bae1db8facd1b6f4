package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// results are report rows of every kind a run writes.
func results() []batch.Result {
	at := time.Date(2026, 11, 25, 9, 30, 0, 123456789, time.UTC)
	body := func(fp string) string {
		return `{"AccessToken":"<redacted:` + fp + `>","SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`
	}
	state := func(s string) batch.State {
		st, err := batch.ParseState(s)
		if err != nil {
			panic(err)
		}
		return st
	}
	return []batch.Result{
		{Row: 2, ID: "bob@example.com", Username: "bob", Sub: "sub-bob", Region: "eu-west-1", UserPoolID: "eu-west-1_Bob", TokenSHA256: "00112233aabbccdd",
			Status: batch.StatusSucceeded, Attempts: 3, HTTPStatus: 200, RequestID: "req-2", StartedAt: at, Duration: 1530 * time.Millisecond, Request: body("00112233aabbccdd"),
			Action: batch.ActionChange, Before: state("sms*,totp"), After: state("totp")},
		{Row: 1, ID: `alice, "the admin"` + "\n", Username: "alice", Sub: "sub-alice", Region: "us-east-1", UserPoolID: "us-east-1_AbC123", TokenSHA256: "ffeeddccbbaa9988",
			Status: batch.StatusFailed, ErrorCode: "NotAuthorizedException", ErrorMessage: "Access Token has been revoked",
			Attempts: 1, HTTPStatus: 400, RequestID: "req-1", StartedAt: at, Duration: 42 * time.Millisecond, Request: body("ffeeddccbbaa9988")},
		{Row: 3, ID: "=cmd", TokenSHA256: "0123456789abcdef", Status: batch.StatusInvalid, ErrorCode: batch.CodeInvalidBoolean,
			ErrorMessage: `column sms_enabled: "maybe" is not a boolean`, StartedAt: at},
		{Row: 4, Status: batch.StatusInvalid, ErrorCode: batch.CodeInvalidRow, ErrorMessage: "access_token is blank", StartedAt: at},
		{Row: 6, ID: "@SUM(1+1)", Username: "+15551234567", Sub: "-sub", Region: "us-east-1", TokenSHA256: "1111222233334444",
			Status: batch.StatusFailed, ErrorCode: "InvalidParameterException", ErrorMessage: "-1 is not a phone number",
			Attempts: 1, HTTPStatus: 400, RequestID: "req-6", StartedAt: at, Duration: 42 * time.Millisecond, Request: body("1111222233334444")},
		{Row: 5, ID: "carol", Username: "carol", Sub: "sub-carol", Region: "us-east-1", TokenSHA256: "aaaaaaaaaaaaaaaa",
			Status: batch.StatusFailed, ErrorCode: batch.CodeTimeout, ErrorMessage: "no answer within --timeout; gave up after 5 attempts",
			Attempts: 5, StartedAt: at, Duration: 50 * time.Second, Request: body("aaaaaaaaaaaaaaaa")},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	w, err := report.NewCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results() {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.csv", b.Bytes())

	// Whatever the cells hold, a CSV reader gets the columns and values back.
	recs, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || len(recs[0]) != len(report.Columns) {
		t.Fatalf("%d records of %d columns", len(recs), len(recs[0]))
	}
	if got := recs[2][1]; got != results()[1].ID {
		t.Errorf("id read back as %q", got)
	}
}

// A cell a spreadsheet would run as a formula is written with a leading ',
// whichever column it is in, and Unescape gives every cell back as it was.
func TestCSVFormulaCells(t *testing.T) {
	values := []string{
		"=1+1", "+15551234567", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "''+x",
		"plain", "'quoted", "'", "", "a=b", " =x", "{\"k\":1}",
	}
	escaped := map[string]bool{"=1+1": true, "+15551234567": true, "-2": true, "@SUM(A1)": true, "\tx": true, "\rx": true, "'=x": true, "''+x": true}
	for _, v := range values {
		r := batch.Result{Row: 1, ID: v, Username: v, Sub: v, Region: v, UserPoolID: v, TokenSHA256: v, Status: batch.Status(v),
			ErrorCode: v, ErrorMessage: v, RequestID: v, Request: v, Action: v}
		var b bytes.Buffer
		w, err := report.NewCSV(&b)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for i, col := range report.Columns {
			switch col {
			case "row", "attempts", "http_status", "started_at", "duration_ms", "before", "after":
				continue
			}
			cell := recs[1][i]
			if want := map[bool]string{true: "'" + v, false: v}[escaped[v]]; cell != want {
				t.Errorf("%q in column %s is written %q, want %q", v, col, cell, want)
			}
			if got := report.Unescape(cell); got != v {
				t.Errorf("%q in column %s reads back as %q", v, col, got)
			}
		}
	}
}

func TestCSVHeaderAlone(t *testing.T) {
	var b bytes.Buffer
	w, err := report.NewCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "row,id,username,sub,region,user_pool_id,token_sha256,status,error_code,error_message,attempts,http_status,request_id,started_at,duration_ms,request,action,before,after\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestJSONL(t *testing.T) {
	var b bytes.Buffer
	w := report.NewJSONL(&b)
	for _, r := range results() {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.jsonl", b.Bytes())

	// Every line is an object with every column; request is an object.
	dec := json.NewDecoder(&b)
	for n := 1; dec.More(); n++ {
		var row map[string]json.RawMessage
		if err := dec.Decode(&row); err != nil {
			t.Fatal(err)
		}
		if len(row) != len(report.Columns) {
			t.Errorf("line %d has %d keys, want %d", n, len(row), len(report.Columns))
		}
		for _, c := range report.Columns {
			if _, ok := row[c]; !ok {
				t.Errorf("line %d lacks %q", n, c)
			}
		}
	}
}

func TestSummary(t *testing.T) {
	est, exp := 9.5, 2
	for _, tc := range []struct {
		name string
		sum  batch.Summary
	}{
		{"summary-run.txt", batch.Summary{
			Rows: 1000, Attempts: 1203, Elapsed: 50.2, RPS: 23.964,
			Statuses:   map[batch.Status]int{batch.StatusSucceeded: 990, batch.StatusFailed: 4, batch.StatusInvalid: 5, batch.StatusSkipped: 1},
			ErrorCodes: map[string]int{"NotAuthorizedException": 4, batch.CodeInvalidBoolean: 2, batch.CodeMalformedToken: 3, batch.CodeDuplicateUser: 1},
		}},
		{"summary-dryrun.txt", batch.Summary{
			Rows: 1, DryRun: true, Elapsed: 0.001, EstimatedSeconds: &est, WouldExpire: &exp,
			Statuses: map[batch.Status]int{batch.StatusDryRun: 1}, ErrorCodes: map[string]int{},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := report.WriteSummary(&b, &tc.sum); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}
