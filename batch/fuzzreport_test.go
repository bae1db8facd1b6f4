package batch_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// FuzzReportReader: whatever a report file holds, the readers --resume
// and rollback use never panic, end in a row, an error or the end, and
// a state they accept reads back as they wrote it.
func FuzzReportReader(f *testing.F) {
	header := strings.Join(report.Columns, ",") + "\n"
	f.Add(header + `1,a,ann,,us-east-1,us-east-1_P,,succeeded,,,3,200,,2026-01-02T03:04:05Z,5,"{""SMSMfaSettings"":{""Enabled"":true,""PreferredMfa"":true}}",change,totp*,"sms*,totp"` + "\n")
	f.Add(header + `2,'=b,'+1555,,us-east-1,us-east-1_P,,skipped,AlreadySucceeded,,0,,,,0,,none,sms*,sms*` + "\n" + `3,c`)
	f.Add(`{"row":1,"token_sha256":"00112233aabbccdd","status":"succeeded","error_code":"","request":{"SMSMfaSettings":{}},"action":"change","before":"none","after":"sms*"}` + "\n")
	f.Add(`{"row":1,"status":"succeeded","before":"sms,sms"}` + "\n" + `{"row":"x"`)
	f.Add("")
	f.Add("\"unclosed\n")
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := report.ReadDone(strings.NewReader(text)); err != nil && err.Error() == "" {
			t.Error("an error with no words")
		}
		r, err := report.NewReader(strings.NewReader(text), "status")
		if err != nil {
			return
		}
		for range 10000 {
			row, err := r.Next()
			var cut *report.CutError
			if err == io.EOF || errors.As(err, &cut) {
				return
			}
			if err != nil {
				return
			}
			row.Sent()
			for _, s := range []string{row.Before, row.After} {
				st, err := batch.ParseState(s)
				if err == nil && st.String() != strings.TrimSpace(s) && !equivalentState(s, st) {
					t.Errorf("state %q reads back as %q", s, st)
				}
			}
		}
		t.Fatal("the reader gave 10,000 rows from a short input")
	})
}

// equivalentState reports whether s names st's factors in another order.
func equivalentState(s string, st batch.State) bool {
	again, err := batch.ParseState(st.String())
	return err == nil && again == st && s != ""
}
