package report_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/report"
)

// readAll reads every row of a report, or the first error.
func readAll(text string, required ...string) ([]report.Row, error) {
	r, err := report.NewReader(strings.NewReader(text), required...)
	if err != nil {
		return nil, err
	}
	var rows []report.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

func TestReaderReadsBothFormats(t *testing.T) {
	body := `{"AccessToken":"<redacted:00112233aabbccdd>","SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`
	for _, jsonl := range []bool{false, true} {
		rows, err := readAll(written(t, jsonl), report.Columns...)
		if err != nil {
			t.Fatalf("jsonl=%v: %v", jsonl, err)
		}
		want := []report.Row{
			{Line: 2, Row: 2, ID: "bob@example.com", Username: "bob", UserPoolID: "eu-west-1_Bob", TokenSHA256: "00112233aabbccdd",
				Status: "succeeded", Request: body, Action: "change", Before: "sms*,totp", After: "totp"},
			{Line: 3, Row: 1, ID: "alice, \"the admin\"\n", Username: "alice", UserPoolID: "us-east-1_AbC123", TokenSHA256: "ffeeddccbbaa9988",
				Status: "failed", ErrorCode: "NotAuthorizedException", Request: strings.ReplaceAll(body, "00112233aabbccdd", "ffeeddccbbaa9988")},
			// Cells a spreadsheet would run come back as they were.
			{Line: 5, Row: 3, ID: "=cmd", TokenSHA256: "0123456789abcdef", Status: "invalid", ErrorCode: "InvalidBoolean"},
			{Line: 6, Row: 4, Status: "invalid", ErrorCode: "InvalidRow"},
			{Line: 7, Row: 6, ID: "@SUM(1+1)", Username: "+15551234567", TokenSHA256: "1111222233334444", Status: "failed",
				ErrorCode: "InvalidParameterException", Request: strings.ReplaceAll(body, "00112233aabbccdd", "1111222233334444")},
			{Line: 8, Row: 5, ID: "carol", Username: "carol", TokenSHA256: "aaaaaaaaaaaaaaaa", Status: "failed", ErrorCode: "Timeout",
				Request: strings.ReplaceAll(body, "00112233aabbccdd", "aaaaaaaaaaaaaaaa")},
		}
		if jsonl {
			// One line a row: alice's id holds a newline only as \n.
			for i := range want {
				want[i].Line = i + 1
			}
		}
		if !slices.Equal(rows, want) {
			t.Errorf("jsonl=%v: rows\n%+v\nwant\n%+v", jsonl, rows, want)
		}
	}
}

func TestRowSent(t *testing.T) {
	for _, tc := range []struct {
		request  string
		factors  []int
		passkey  bool
		readable bool
	}{
		{`{"AccessToken":"<redacted:x>","SMSMfaSettings":{"Enabled":true,"PreferredMfa":true}}`, []int{0}, false, true},
		{`{"Username":"u","UserPoolId":"p","SoftwareTokenMfaSettings":{},"EmailMfaSettings":{"Enabled":false}}`, []int{1, 2}, false, true},
		{`{"AccessToken":"x","WebAuthnMfaSettings":{"Enabled":true},"SMSMfaSettings":null}`, nil, true, true},
		{`{"AccessToken":"x"}`, nil, false, false},
		{``, nil, false, false},
		{`{"SMSMfaSettings":`, nil, false, false},
	} {
		factors, passkey, ok := report.Row{Request: tc.request}.Sent()
		if !slices.Equal(factors, tc.factors) || passkey != tc.passkey || ok != tc.readable {
			t.Errorf("Sent(%s) = %v, %v, %v; want %v, %v, %v", tc.request, factors, passkey, ok, tc.factors, tc.passkey, tc.readable)
		}
	}
}

func TestReaderRefusesDamage(t *testing.T) {
	csvText := written(t, false)
	lines := strings.SplitAfter(csvText, "\n")
	jsonlText := written(t, true)
	jlines := strings.SplitAfter(jsonlText, "\n")
	swap := func(text, old, new string) string { return strings.Replace(text, old, new, 1) }
	for name, tc := range map[string]struct{ text, want string }{
		"empty":                {"", "the report is empty"},
		"not a report":         {"id,access_token\nx,y\n", "not an mfabatch report: its header lacks row, username, user_pool_id, token_sha256, status, error_code, request or before"},
		"no before column":     {"row,id,username,user_pool_id,token_sha256,status,error_code,request\n1,a,b,c,,succeeded,,\n", "its header lacks before"},
		"row not a number":     {lines[0] + swap(lines[1], "2,bob@", "x2,bob@") + strings.Join(lines[2:], ""), `report line 2: column row: "x2" is not a row number`},
		"row zero":             {lines[0] + swap(lines[1], "2,bob@", "0,bob@") + strings.Join(lines[2:], ""), `report line 2: column row: "0" is not a row number`},
		"row too large":        {lines[0] + swap(lines[1], "2,bob@", "4294967298,bob@") + strings.Join(lines[2:], ""), `report line 2: column row: "4294967298" is not a row number`},
		"fingerprint":          {lines[0] + swap(lines[1], "00112233aabbccdd,", "00112233aabbccdz,") + strings.Join(lines[2:], ""), "report line 2: column token_sha256: not 16 hex digits"},
		"fields":               {lines[0] + lines[1][:20] + "\n" + strings.Join(lines[2:], ""), "report line 2 has 3 fields, the header has 19"},
		"quote":                {lines[0] + "1,\"a\n" + strings.Join(lines[1:], ""), "report line"},
		"jsonl not an object":  {"{1}\n" + jsonlText, "report line 1 is not a JSON object"},
		"jsonl lacks keys":     {`{"row":1,"status":"succeeded"}` + "\n" + jsonlText, "report line 1 is not an mfabatch report row: it lacks id, username, user_pool_id, token_sha256, error_code, request or before"},
		"jsonl row as text":    {swap(jlines[0], `"row":2`, `"row":"2"`) + strings.Join(jlines[1:], ""), `report line 1: column row: "\"2\"" is not a row number`},
		"jsonl before number":  {swap(jlines[0], `"before":"sms*,totp"`, `"before":3`) + strings.Join(jlines[1:], ""), "report line 1: column before: want a string"},
		"jsonl request string": {swap(jlines[0], `"request":{"AccessToken":"<redacted:00112233aabbccdd>","SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`, `"request":"{}"`) + strings.Join(jlines[1:], ""), "report line 1: column request: want an object"},
	} {
		t.Run(name, func(t *testing.T) {
			required := []string{"row", "id", "username", "user_pool_id", "token_sha256", "status", "error_code", "request", "before"}
			_, err := readAll(tc.text, required...)
			var cut *report.CutError
			if err == nil || errors.As(err, &cut) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestReaderForgivesLastLineCut(t *testing.T) {
	for _, jsonl := range []bool{false, true} {
		text := written(t, jsonl)
		rows, err := readAll(text[:len(text)-30])
		var cut *report.CutError
		want := 8 // CSV: the header, alice's id on two lines
		if jsonl {
			want = 6
		}
		if !errors.As(err, &cut) || cut.Line != want {
			t.Fatalf("jsonl=%v: err = %v, want the last line (%d) cut short", jsonl, err, want)
		}
		if len(rows) != 5 || rows[4].Row != 6 {
			t.Errorf("jsonl=%v: %d rows before the cut, want the 5 whole ones", jsonl, len(rows))
		}
	}
}
