package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// wantRow is what a test expects of one manifest row. Code and Msg describe
// Row.Err: Code is exact, Msg a piece of the message; both blank for none.
type wantRow struct {
	N        int
	ID       string
	Token    string
	Settings batch.Settings
	Code     string
	Msg      string
}

// readManifest calls Next until it returns io.EOF and returns the rows, or
// the first other error; a Next that stalls shows as the test timing out.
func readManifest(t *testing.T, m batch.Manifest) ([]batch.Row, error) {
	t.Helper()
	var rows []batch.Row
	for {
		r, err := m.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
}

// checkManifest reads every row of m and compares them with want; no
// row's error may quote a piece of tok.
func checkManifest(t *testing.T, m batch.Manifest, want []wantRow, tok string) {
	t.Helper()
	rows, err := readManifest(t, m)
	if err != nil {
		t.Fatalf("Next error = %v after %d rows", err, len(rows))
	}
	checkRows(t, rows, want)
	for _, r := range rows {
		if r.Err != nil {
			assertNoTokenPiece(t, tok, r.Err.Message)
		}
	}
}

// checkRows compares rows with want, field by field.
func checkRows(t *testing.T, rows []batch.Row, want []wantRow) {
	t.Helper()
	if len(rows) != len(want) {
		for _, r := range rows {
			t.Logf("row %d: id %q settings %+v err %v", r.N, r.ID, r.Settings, r.Err)
		}
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.N != w.N {
			t.Errorf("row %d: N = %d, want %d", i+1, r.N, w.N)
		}
		if r.ID != w.ID {
			t.Errorf("row %d: ID = %q, want %q", i+1, r.ID, w.ID)
		}
		if string(r.Token) != w.Token {
			t.Errorf("row %d: Token = %q, want %q", i+1, string(r.Token), w.Token)
		}
		if w.Code == "" {
			if r.Err != nil {
				t.Errorf("row %d: Err = %v, want none", i+1, r.Err)
			}
			if r.Settings != w.Settings {
				t.Errorf("row %d: Settings = %+v, want %+v", i+1, r.Settings, w.Settings)
			}
			continue
		}
		if r.Err == nil {
			t.Errorf("row %d: Err = nil, want %s", i+1, w.Code)
			continue
		}
		if r.Err.Code != w.Code || !strings.Contains(r.Err.Message, w.Msg) {
			t.Errorf("row %d: Err = %s / %q\nwant       %s / message containing %q", i+1, r.Err.Code, r.Err.Message, w.Code, w.Msg)
		}
	}
}

var (
	enabledOnly  = batch.Factor{Enabled: batch.True}
	enabledPref  = batch.Factor{Enabled: batch.True, Preferred: batch.True}
	disabledBoth = batch.Factor{Enabled: batch.False, Preferred: batch.False}
)

const allColumns = "id,access_token,sms_enabled,sms_preferred,software_token_enabled,software_token_preferred,email_enabled,email_preferred,webauthn_enabled"

func TestReadCSV(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	tests := []struct {
		name string
		in   string
		want []wantRow
	}{
		{
			name: "access_token alone",
			in:   "access_token\nt1\n",
			want: []wantRow{{N: 1, Token: "t1"}},
		},
		{
			name: "every column",
			in:   allColumns + "\nalice,t1,true,false,yes,no,1,0,TRUE\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{
				SMS:           batch.Factor{Enabled: batch.True, Preferred: batch.False},
				SoftwareToken: batch.Factor{Enabled: batch.True, Preferred: batch.False},
				Email:         batch.Factor{Enabled: batch.True, Preferred: batch.False},
				WebAuthn:      enabledOnly,
			}}},
		},
		{
			name: "empty cells are not set",
			in:   allColumns + "\nalice,t1,,,true,,,,\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SoftwareToken: enabledOnly}}},
		},
		{
			name: "a real token survives unchanged",
			in:   "id,access_token,sms_enabled\nalice," + tok + ",yes\n",
			want: []wantRow{{N: 1, ID: "alice", Token: tok, Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "byte-order mark",
			in:   "\ufeffid,access_token,sms_enabled\nalice,t1,yes\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "CRLF line ends",
			in:   "id,access_token,sms_enabled\r\nalice,t1,yes\r\nbob,t2,no\r\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}},
			},
		},
		{
			name: "no newline after the last row",
			in:   "id,access_token\nalice,t1",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1"}},
		},
		{
			name: "quoted fields with commas and quotes",
			in:   "id,access_token,sms_enabled\n\"Doe, Jane\",t1,\"yes\"\n\"say \"\"hi\"\"\",t3,\n",
			want: []wantRow{
				{N: 1, ID: "Doe, Jane", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 2, ID: `say "hi"`, Token: "t3"},
			},
		},
		{
			name: "a cell cannot span lines: each line of one is its own invalid row",
			in:   "id,access_token,sms_enabled\n\"two\nlines\",t2,no\nbob,t3,yes\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: `line 2: a quoted cell does not end on its line (a cell cannot span lines): look for a stray "`},
				{N: 2, Code: batch.CodeInvalidRow, Msg: `line 3, column 6: bare " in non-quoted-field`},
				{N: 3, ID: "bob", Token: "t3", Settings: batch.Settings{SMS: enabledOnly}},
			},
		},
		{
			name: "a quote that never closes costs its own row; the next rows still read",
			in:   "id,access_token,sms_enabled\nalice,t1,yes\n\"bob,t2,yes\ncarol,\"t3,no\ndave,t4,\"\"\"\nerin,t5,no\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 3: a quoted cell does not end on its line"},
				{N: 3, Code: batch.CodeInvalidRow, Msg: "line 4: a quoted cell does not end on its line"},
				{N: 4, Code: batch.CodeInvalidRow, Msg: "line 5: a quoted cell does not end on its line"},
				{N: 5, ID: "erin", Token: "t5", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}},
			},
		},
		{
			name: "line longer than MaxLineBytes is its row's error; the next row still reads",
			in:   "id,access_token\n" + strings.Repeat("x", batch.MaxLineBytes) + ",t1\nbob,t2\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 2 is longer than %d bytes", batch.MaxLineBytes)},
				{N: 2, ID: "bob", Token: "t2"},
			},
		},
		{
			name: "quoted blank cells, too many of them, make a blank line",
			in:   "id,access_token\n\"\",\" \",\"\"\nalice,t1\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1"}},
		},
		{
			name: "blank lines and all-empty records take no row number",
			in:   "id,access_token\n\nalice,t1\n,\n,,,,\n  ,  \n\r\n\nbob,t2\n\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1"}, {N: 2, ID: "bob", Token: "t2"}},
		},
		{
			name: "header names in any case with spaces",
			in:   " ID ,Access_Token,  SMS_ENABLED\t\nalice,t1,yes\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "columns in any order",
			in:   "webauthn_enabled,access_token,id\ntrue,t1,alice\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{WebAuthn: enabledOnly}}},
		},
		{
			name: "cells are trimmed",
			in:   "id,access_token,sms_enabled\n  alice  ,  t1\t, yes \n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "header only",
			in:   "id,access_token\n",
			want: nil,
		},
		{
			name: "short record is that row's error; the next row still reads",
			in:   "id,access_token,sms_enabled\nalice,t1\nbob,t2,yes\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Code: batch.CodeInvalidRow, Msg: "line 2 has 2 fields, the header has 3"},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: enabledOnly}},
			},
		},
		{
			name: "long record is that row's error; the next row still reads",
			in:   "id,access_token,sms_enabled\nalice,t1,yes,extra\nbob,t2,yes\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Code: batch.CodeInvalidRow, Msg: "line 2 has 4 fields, the header has 3"},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: enabledOnly}},
			},
		},
		{
			name: "line numbers in messages count physical lines, blank ones too",
			in:   "\nid,access_token\n\n,\nalice,t1\nbob\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1"},
				{N: 2, ID: "bob", Code: batch.CodeInvalidRow, Msg: "line 6 has 1 fields, the header has 2"},
			},
		},
		{
			name: "bad boolean names the column; the next row still reads",
			in:   "id,access_token,sms_enabled,email_preferred\nalice,t1,yes,maybe\nbob,t2,no,\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `column email_preferred: "maybe" is not a boolean (want true/false, 1/0 or yes/no)`},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}},
			},
		},
		{
			name: "bad boolean in webauthn_enabled",
			in:   "access_token,webauthn_enabled\nt1,2\n",
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `column webauthn_enabled: "2" is not a boolean`}},
		},
		{
			name: "bare quote is that row's error; the next rows still read",
			in:   "id,access_token,sms_enabled\nalice,t1,tr\"ue\nbob,t2,yes\ncarol,t3,no\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: `line 2, column 12: bare " in non-quoted-field`},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 3, ID: "carol", Token: "t3", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}},
			},
		},
		{
			name: "byte-order mark before a quoted header",
			in:   "\ufeff\"id\",\"access_token\",\"sms_enabled\"\r\n\"alice\",\"t1\",\"yes\"\r\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := batch.ReadCSV(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("ReadCSV error = %v", err)
			}
			defer m.Close()
			checkManifest(t, m, tc.want, tok)
		})
	}
}

func TestReadCSVHeaderErrors(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	known := "the columns are: id, access_token, sms_enabled, sms_preferred, software_token_enabled, software_token_preferred, email_enabled, email_preferred, webauthn_enabled; or, in admin mode, username and user_pool_id in place of access_token"
	tests := []struct {
		name      string
		in        string
		wantEmpty bool   // want ErrEmpty
		wantMsg   string // else the *HeaderError's exact text
	}{
		{name: "empty file", in: "", wantEmpty: true},
		{name: "only blank lines", in: "\n\r\n\n", wantEmpty: true},
		{
			name:    "misspelt column",
			in:      "id,access_token,sms_enabeld\nalice,t1,yes\n",
			wantMsg: `manifest header: unknown column "sms_enabeld" (column 3); ` + known,
		},
		{
			name:    "unknown column quoted as the user wrote it",
			in:      "access_token, SMS Enabled \n",
			wantMsg: `manifest header: unknown column " SMS Enabled " (column 2); ` + known,
		},
		{
			name:    "duplicate column",
			in:      "id,access_token,sms_enabled,ID\n",
			wantMsg: `manifest header: column "id" appears twice`,
		},
		{
			name:    "missing access_token",
			in:      "id,sms_enabled\nalice,yes\n",
			wantMsg: "manifest header: no access_token or username column; " + known,
		},
		{
			name:    "column without a name",
			in:      "id,,access_token\n",
			wantMsg: "manifest header: column 2 has no name; " + known,
		},
		{
			name:    "header row forgotten, first cell is a token",
			in:      tok + ",yes\n",
			wantMsg: "manifest header: column 1 of the first line looks like a token: a CSV manifest's first line must name its columns: " + strings.TrimPrefix(known, "the columns are: "),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := batch.ReadCSV(strings.NewReader(tc.in))
			if err == nil {
				m.Close()
				t.Fatalf("ReadCSV error = nil, want one")
			}
			assertNoTokenPiece(t, tok, err.Error())
			if tc.wantEmpty {
				if !errors.Is(err, batch.ErrEmpty) {
					t.Errorf("ReadCSV error = %v, want ErrEmpty", err)
				}
				return
			}
			var he *batch.HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("ReadCSV error = %v (%T), want a *HeaderError", err, err)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("ReadCSV error =\n %q\nwant\n %q", err, tc.wantMsg)
			}
		})
	}
}

// TestManifestTokenInBooleanCell checks that a token in the wrong column,
// which a misaligned row puts there, is not quoted in the row's message.
func TestManifestTokenInBooleanCell(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	tests := []struct {
		name string
		read func() (batch.Manifest, error)
	}{
		{"CSV", func() (batch.Manifest, error) {
			m, err := batch.ReadCSV(strings.NewReader("access_token,sms_enabled\ntrue," + tok + "\n"))
			if err != nil {
				return nil, err
			}
			return m, nil
		}},
		{"JSONL", func() (batch.Manifest, error) {
			return batch.ReadJSONL(strings.NewReader(`{"access_token":"true","sms_enabled":"` + tok + `"}` + "\n")), nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.read()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := readManifest(t, m)
			if err != nil || len(rows) != 1 || rows[0].Err == nil {
				t.Fatalf("rows %+v, err %v: want one invalid row", rows, err)
			}
			if rows[0].Err.Code != batch.CodeInvalidBoolean {
				t.Errorf("code = %s, want %s", rows[0].Err.Code, batch.CodeInvalidBoolean)
			}
			assertNoTokenPiece(t, tok, rows[0].Err.Message)
		})
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestManifestReadError(t *testing.T) {
	errDisk := errors.New("input/output error")
	tests := []struct {
		name string
		open func(io.Reader) (batch.Manifest, error)
		data string
		want []wantRow
	}{
		{
			name: "CSV",
			open: func(r io.Reader) (batch.Manifest, error) { return batch.ReadCSV(r) },
			data: "id,access_token\nalice,t1\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1"}},
		},
		{
			name: "JSONL",
			open: func(r io.Reader) (batch.Manifest, error) { return batch.ReadJSONL(r), nil },
			data: `{"id":"alice","access_token":"t1"}` + "\n",
			want: []wantRow{{N: 1, ID: "alice", Token: "t1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.open(&failingReader{data: tc.data, err: errDisk})
			if err != nil {
				t.Fatalf("open error = %v", err)
			}
			rows, err := readManifest(t, m)
			if !errors.Is(err, errDisk) {
				t.Fatalf("Next error = %v, want one wrapping %v", err, errDisk)
			}
			checkRows(t, rows, tc.want)
		})
	}
}

func TestReadJSONL(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	long := `{"id":"` + strings.Repeat("x", batch.MaxLineBytes) + `","access_token":"` + tok + `"}`
	tests := []struct {
		name string
		in   string
		want []wantRow
	}{
		{
			name: "manifest keys with JSON booleans",
			in:   `{"id":"alice","access_token":"t1","sms_enabled":true,"sms_preferred":false,"webauthn_enabled":true}`,
			want: []wantRow{{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{
				SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}, WebAuthn: enabledOnly}}},
		},
		{
			name: "manifest keys with string booleans",
			in:   `{"access_token":"t1","software_token_enabled":"yes","software_token_preferred":"TRUE","email_enabled":"0"}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{
				SoftwareToken: enabledPref, Email: batch.Factor{Enabled: batch.False}}}},
		},
		{
			name: "null and empty string mean not set",
			in:   `{"access_token":"t1","sms_enabled":null,"sms_preferred":"","email_enabled":true}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{Email: enabledOnly}}},
		},
		{
			name: "a real token survives unchanged, spaces trimmed",
			in:   `{"access_token":"  ` + tok + ` ","sms_enabled":true}`,
			want: []wantRow{{N: 1, Token: tok, Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "API shape",
			in:   `{"AccessToken":"t1","SMSMfaSettings":{"Enabled":true,"PreferredMfa":false},"SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":true},"EmailMfaSettings":{"Enabled":false,"PreferredMfa":false},"WebAuthnMfaSettings":{"Enabled":true}}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{
				SMS:           batch.Factor{Enabled: batch.True, Preferred: batch.False},
				SoftwareToken: enabledPref,
				Email:         disabledBoth,
				WebAuthn:      enabledOnly,
			}}},
		},
		{
			name: "API shape with a string id",
			in:   `{"id":" alice@example.com ","AccessToken":"t1","SMSMfaSettings":{"Enabled":true}}`,
			want: []wantRow{{N: 1, ID: "alice@example.com", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "API shape with a number id",
			in:   `{"id":42,"AccessToken":"t1","SMSMfaSettings":{"Enabled":true}}`,
			want: []wantRow{{N: 1, ID: "42", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "manifest keys with a number id",
			in:   `{"id":1001,"access_token":"t1","sms_enabled":true}`,
			want: []wantRow{{N: 1, ID: "1001", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "API block that is present but empty is sent, as false",
			in:   `{"AccessToken":"t1","SMSMfaSettings":{}}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}}},
		},
		{
			name: "API block that is null is not sent",
			in:   `{"AccessToken":"t1","SMSMfaSettings":null,"EmailMfaSettings":{"Enabled":true}}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{Email: enabledOnly}}},
		},
		{
			name: "API shape with string booleans",
			in:   `{"AccessToken":"t1","EmailMfaSettings":{"Enabled":"yes","PreferredMfa":"no"}}`,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{Email: batch.Factor{Enabled: batch.True, Preferred: batch.False}}}},
		},
		{
			name: "blank lines skipped without taking a row number, BOM and CRLF accepted",
			in:   "\ufeff{\"id\":\"a\",\"access_token\":\"t1\"}\r\n\r\n   \n{\"id\":\"b\",\"access_token\":\"t2\"}\r\n\n",
			want: []wantRow{{N: 1, ID: "a", Token: "t1"}, {N: 2, ID: "b", Token: "t2"}},
		},
		{
			name: "no newline after the last line",
			in:   `{"access_token":"t1"}` + "\n" + `{"access_token":"t2"}`,
			want: []wantRow{{N: 1, Token: "t1"}, {N: 2, Token: "t2"}},
		},
		{
			name: "mixing the two shapes",
			in:   `{"access_token":"t1","SMSMfaSettings":{"Enabled":true}}`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1 mixes manifest keys (access_token, username, sms_enabled, ...) with API keys (AccessToken, Username, SMSMfaSettings, ...): use one shape"}},
		},
		{
			name: "unknown key is named",
			in:   `{"access_token":"t1","sms_enabeld":true}`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: `line 1: unknown key "sms_enabeld"; the keys are id, access_token (or username and user_pool_id), sms_enabled,`}},
		},
		{
			name: "passkey block refuses PreferredMfa",
			in:   `{"AccessToken":"t1","WebAuthnMfaSettings":{"Enabled":true,"PreferredMfa":false}}`,
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidRow, Msg: "line 1: WebAuthnMfaSettings takes Enabled only"}},
		},
		{
			name: "bad JSON gives the line number and no token content; the next line still reads",
			in:   "\n" + `{"access_token":"` + tok + `","sms_enabled":true,}` + "\n" + `{"access_token":"t2"}`,
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 2: not valid JSON at byte"},
				{N: 2, Token: "t2"},
			},
		},
		{
			name: "JSON cut short",
			in:   `{"access_token":"` + tok + `"`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: not valid JSON"}},
		},
		{
			name: "two values on a line",
			in:   `{"access_token":"t1"} {"access_token":"t2"}`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: more than one JSON value on the line"}},
		},
		{
			name: "token of the wrong type",
			in:   `{"access_token":12345}`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: key access_token: want a string, not a number"}},
		},
		{
			name: "id of the wrong type",
			in:   `{"id":true,"access_token":"t1"}`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: key id: want a string or a number"}},
		},
		{
			name: "a line that is not an object",
			in:   `["t1", true]`,
			want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1 is not a JSON object"}},
		},
		{
			name: "bad boolean names the key",
			in:   `{"access_token":"t1","sms_enabled":"maybe"}`,
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `line 1: key sms_enabled: "maybe" is not a boolean (want true/false, 1/0 or yes/no)`}},
		},
		{
			name: "number is not a boolean",
			in:   `{"access_token":"t1","email_enabled":1}`,
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: "line 1: key email_enabled: \"1\" is not a boolean"}},
		},
		{
			name: "bad boolean in an API block names block and field",
			in:   `{"AccessToken":"t1","SMSMfaSettings":{"Enabled":"perhaps"}}`,
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `line 1: key SMSMfaSettings.Enabled: "perhaps" is not a boolean`}},
		},
		{
			name: "line longer than MaxLineBytes; the next line still reads",
			in:   long + "\n" + `{"id":"bob","access_token":"t2"}` + "\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 1 is longer than %d bytes", batch.MaxLineBytes)},
				{N: 2, ID: "bob", Token: "t2"},
			},
		},
		{
			name: "line longer than MaxLineBytes at the end without newline",
			in:   `{"access_token":"t1"}` + "\n" + long,
			want: []wantRow{
				{N: 1, Token: "t1"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 2 is longer than %d bytes", batch.MaxLineBytes)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkManifest(t, batch.ReadJSONL(strings.NewReader(tc.in)), tc.want, tok)
		})
	}
}

// TestStrayQuoteCostsItsOwnRow runs a manifest whose row 2 has a stray
// quote at the start of its id: that row alone is invalid, naming its
// line, and every other row is sent.
func TestStrayQuoteCostsItsOwnRow(t *testing.T) {
	const n = 20000
	var b strings.Builder
	b.WriteString("id,access_token,sms_enabled\n")
	tokens := make([]string, n+1)
	for i := 1; i <= n; i++ {
		tokens[i] = cognitotest.Token(cognitotest.Claims{Username: fmt.Sprintf("user%05d", i)})
		quote := ""
		if i == 2 {
			quote = `"`
		}
		fmt.Fprintf(&b, "%su%d,%s,true\n", quote, i, tokens[i])
	}
	m, err := batch.ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	srv, client := serve(t, nil)
	cfg := fastConfig()
	cfg.Workers = 16
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.byRow(t, n) {
		switch {
		case r.Row == 2:
			if r.Status != batch.StatusInvalid || r.ErrorCode != batch.CodeInvalidRow || !strings.Contains(r.ErrorMessage, "line 3") {
				t.Errorf("row 2: %s %s %q, want invalid InvalidRow naming line 3", r.Status, r.ErrorCode, r.ErrorMessage)
			}
			assertNoTokenPiece(t, tokens[2], r.ErrorMessage)
		case r.Status != batch.StatusSucceeded || r.ID != fmt.Sprintf("u%d", r.Row):
			t.Errorf("row %d: id %q %s %s %q, want succeeded", r.Row, r.ID, r.Status, r.ErrorCode, r.ErrorMessage)
		}
	}
	called := map[string]int{}
	for _, c := range srv.Calls() {
		called[c.Token]++
	}
	for i := 1; i <= n; i++ {
		want := 1
		if i == 2 {
			want = 0
		}
		if called[tokens[i]] != want {
			t.Fatalf("row %d's token was sent %d times, want %d", i, called[tokens[i]], want)
		}
	}
}

// manifestStream is a CSV manifest of n rows made as it is read, so that
// the reader's memory, not the test's, is what a heap reading measures.
// Row stray's id, when set, opens a quote that never closes.
type manifestStream struct {
	n, stray int
	token    string
	next     int
	pending  []byte
}

func (s *manifestStream) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		switch {
		case s.next > s.n:
			return 0, io.EOF
		case s.next == 0:
			s.pending = []byte("id,access_token,sms_enabled\n")
		case s.next == s.stray:
			s.pending = fmt.Appendf(nil, "\"u%d,%s,true\n", s.next, s.token)
		default:
			s.pending = fmt.Appendf(nil, "u%d,%s,true\n", s.next, s.token)
		}
		s.next++
	}
	k := copy(p, s.pending)
	s.pending = s.pending[k:]
	return k, nil
}

// liveHeap is the heap in use as the last collection found it.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestStrayQuoteMemoryIsFlat reads 100,000 rows of about 1 KiB whose row
// 2 opens a quote that never closes: every row is read, and the heap
// stays within a few MiB however long the file (on the old reader, which
// took the rest of the file into row 2's id, it grew by 330 MiB).
func TestStrayQuoteMemoryIsFlat(t *testing.T) {
	const n = 100000
	tok := cognitotest.Token(cognitotest.Claims{Username: strings.Repeat("a", 700)})
	runtime.GC()
	base := liveHeap()
	m, err := batch.ReadCSV(&manifestStream{n: n, stray: 2, token: tok})
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	rows := 0
	for {
		r, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d rows: %v", rows, err)
		}
		rows++
		if (r.N == 2) != (r.Err != nil) {
			t.Fatalf("row %d: error %v; only row 2 should have one", r.N, r.Err)
		}
		if rows <= 10 || rows%1000 == 0 {
			peak = max(peak, liveHeap())
		}
	}
	grew := float64(peak-min(peak, base)) / (1 << 20)
	t.Logf("%d rows read; the live heap peaked %.1f MiB above where it started", rows, grew)
	if rows != n {
		t.Errorf("read %d rows, want %d", rows, n)
	}
	if grew > 24 {
		t.Errorf("the live heap grew %.1f MiB while reading a 100 MiB file, want at most 24: memory must not grow with the file", grew)
	}
}
