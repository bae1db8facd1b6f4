package report_test

import (
	"bytes"
	"strings"
	"testing"

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
				if len(done) != 1 || !done.Has("00112233aabbccdd") {
					t.Errorf("done = %v, want only bob's row (succeeded)", done)
				}
				for _, fp := range []string{"ffeeddccbbaa9988", "0123456789abcdef", "aaaaaaaaaaaaaaaa", "", "zz"} {
					if done.Has(fp) {
						t.Errorf("%q counted as done", fp)
					}
				}
			})
		}
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
