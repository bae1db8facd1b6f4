package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// written is results() as a report in the given format.
func written(t *testing.T, jsonl bool) string {
	t.Helper()
	var b bytes.Buffer
	var w batch.Sink
	if jsonl {
		w = report.NewJSONL(&b)
	} else {
		c, err := report.NewCSV(&b)
		if err != nil {
			t.Fatal(err)
		}
		w = c
	}
	for _, r := range results() {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReadDone(t *testing.T) {
	for _, format := range []string{"csv", "jsonl"} {
		full := written(t, format == "jsonl")
		// The last row (carol) is a failure; cutting it anywhere must not
		// change what is done.
		cutLast := full[:len(full)-30]
		for name, text := range map[string]string{"whole": full, "last line cut": cutLast} {
			t.Run(format+"/"+name, func(t *testing.T) {
				done, err := report.ReadDone(strings.NewReader(text))
				if err != nil {
					t.Fatal(err)
				}
				if done.Len() != 1 || !done.Has(batch.DoneKey{TokenSHA256: "00112233aabbccdd"}) {
					t.Errorf("done has %d rows, want only bob's row (succeeded)", done.Len())
				}
				for _, fp := range []string{"ffeeddccbbaa9988", "0123456789abcdef", "aaaaaaaaaaaaaaaa", "", "zz"} {
					if done.Has(batch.DoneKey{TokenSHA256: fp}) {
						t.Errorf("%q counted as done", fp)
					}
				}
				// bob's row is a token row: his pool and name do not make
				// an admin row done.
				if done.Has(batch.DoneKey{UserPoolID: "eu-west-1_Bob", Username: "bob"}) {
					t.Error("a token row's user counted as an admin row done")
				}
			})
		}
	}
}

// adminResults are an admin run's results: no token fingerprints.
func adminResults() []batch.Result {
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	return []batch.Result{
		{Row: 1, Username: "+15551234567", Region: "eu-west-1", UserPoolID: "eu-west-1_AbC123", Status: batch.StatusSucceeded, Attempts: 1, StartedAt: at},
		{Row: 2, Username: "dan", Region: "eu-west-1", UserPoolID: "eu-west-1_AbC123", Status: batch.StatusFailed, ErrorCode: "UserNotFoundException", Attempts: 1, StartedAt: at},
		{Row: 3, Username: "erin", Region: "us-east-1", UserPoolID: "us-east-1_Other1", Status: batch.StatusSkipped, ErrorCode: batch.CodeAlreadySucceeded, StartedAt: at},
		{Row: 4, Username: "fay", Region: "us-east-1", UserPoolID: "us-east-1_Other1", Status: batch.StatusSkipped, ErrorCode: batch.CodeUnchanged, StartedAt: at,
			Action: batch.ActionNone, Before: mustState("sms*"), After: mustState("sms*")},
		{Row: 5, Username: "gus", Region: "us-east-1", UserPoolID: "us-east-1_Other1", Status: batch.StatusPlanned, Action: batch.ActionChange, StartedAt: at},
		{Row: 6, Username: "hal", Region: "us-east-1", UserPoolID: "us-east-1_Other1", Status: batch.StatusFailed, ErrorCode: batch.CodeNotApplied, StartedAt: at},
	}
}

func TestReadDoneAdminRows(t *testing.T) {
	for _, jsonl := range []bool{false, true} {
		var b bytes.Buffer
		var w batch.Sink = report.NewJSONL(&b)
		if !jsonl {
			w, _ = report.NewCSV(&b)
		}
		for _, r := range adminResults() {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		done, err := report.ReadDone(&b)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			pool, user string
			want       bool
		}{
			{"eu-west-1_AbC123", "+15551234567", true}, // escaped as '+1555... in CSV, and read back
			{"eu-west-1_AbC123", "dan", false},
			{"us-east-1_Other1", "erin", true},
			{"us-east-1_Other1", "fay", true},           // already as asked: as good as done
			{"us-east-1_Other1", "gus", false},          // planned: nothing was written
			{"us-east-1_Other1", "hal", false},          // not applied: send again
			{"us-east-1_Other1", "+15551234567", false}, // same name, another pool
			{"eu-west-1_AbC123", "", false},
		} {
			if got := done.Has(batch.DoneKey{UserPoolID: k.pool, Username: k.user}); got != k.want {
				t.Errorf("jsonl=%v: Has(%s, %s) = %v, want %v", jsonl, k.pool, k.user, got, k.want)
			}
		}
		if p, ok := done.Prior(batch.DoneKey{UserPoolID: "us-east-1_Other1", Username: "fay"}); !ok || p.Action != batch.ActionNone || p.Before.String() != "sms*" || p.After.String() != "sms*" {
			t.Errorf("jsonl=%v: fay's prior is %+v, want none sms* sms*", jsonl, p)
		}
		if p, _ := done.Prior(batch.DoneKey{UserPoolID: "us-east-1_Other1", Username: "erin"}); p != (batch.Prior{}) {
			t.Errorf("jsonl=%v: erin's prior is %+v, want none read", jsonl, p)
		}
		if done.Len() != 3 {
			t.Errorf("jsonl=%v: %d rows done, want 3", jsonl, done.Len())
		}
	}
}

func TestReadDoneRefusesAdminRowWithoutUser(t *testing.T) {
	// Not the last line, which may be cut short and is forgiven.
	text := "row,username,user_pool_id,token_sha256,status,error_code\n1,,eu-west-1_AbC123,,succeeded,\n2,dan,eu-west-1_AbC123,,failed,X\n"
	_, err := report.ReadDone(strings.NewReader(text))
	if err == nil || !strings.Contains(err.Error(), "neither token_sha256 nor user_pool_id and username") {
		t.Errorf("err = %v", err)
	}
}

func TestReadDoneRefusesDamage(t *testing.T) {
	csvText := written(t, false)
	lines := strings.SplitAfter(csvText, "\n")
	for name, tc := range map[string]struct{ text, want string }{
		"empty":            {"", "the report is empty"},
		"not a report":     {"id,access_token\nx,y\n", "not an mfabatch report"},
		"damaged mid-file": {lines[0] + lines[1][:20] + "\n" + strings.Join(lines[2:], ""), "report line 2 has 3 fields"},
		"bad fingerprint":  {lines[0] + strings.Replace(lines[1], "00112233aabbccdd", "0011", 1) + strings.Join(lines[2:], ""), "not 16 hex digits"},
		"jsonl mid-file":   {"{\"status\":\"succeeded\"\n" + `{"token_sha256":"00112233aabbccdd","status":"succeeded"}` + "\n", "report line 1 is not a JSON object"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := report.ReadDone(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func mustState(s string) batch.State {
	st, err := batch.ParseState(s)
	if err != nil {
		panic(err)
	}
	return st
}
