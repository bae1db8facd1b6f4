package batch_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// skeleton is `mfabatch skeleton input` with a token: one pretty-printed
// object.
const skeleton = `{
    "SMSMfaSettings": {
        "Enabled": true,
        "PreferredMfa": false
    },
    "AccessToken": "t1"
}
`

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []wantRow
		err  string // the error that ends the manifest, if one does
	}{
		{
			name: "one pretty-printed object, as skeleton input prints it",
			in:   skeleton,
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}}}},
		},
		{
			name: "pretty-printed objects one after another, BOM first",
			in:   "\ufeff" + skeleton + "\n" + strings.Replace(skeleton, "t1", "t2", 1),
			want: []wantRow{
				{N: 1, Token: "t1", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}}},
				{N: 2, Token: "t2", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}}},
			},
		},
		{
			name: "an array of both shapes, over lines",
			in:   "[\n  {\"id\": \"a\", \"access_token\": \"t1\", \"sms_enabled\": true},\n  {\n    \"AccessToken\": \"t2\",\n    \"EmailMfaSettings\": {\"Enabled\": \"yes\"}\n  }\n]\n",
			want: []wantRow{
				{N: 1, ID: "a", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 2, Token: "t2", Settings: batch.Settings{Email: enabledOnly}},
			},
		},
		{
			name: "an empty array",
			in:   " [ ] ",
		},
		{
			name: "rows of an array keep the JSON Lines rules, named by their line",
			in:   "[{\"access_token\":\"t1\",\"sms_enabeld\":true},\n\n {\"access_token\":\"t2\",\"sms_enabled\":\"maybe\"},\n 7,\n {\"access_token\":\"t3\"}]",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: `line 1: unknown key "sms_enabeld"`},
				{N: 2, Token: "t2", Code: batch.CodeInvalidBoolean, Msg: `line 3: key sms_enabled: "maybe"`},
				{N: 3, Code: batch.CodeInvalidRow, Msg: "line 4 is not a JSON object"},
				{N: 4, Token: "t3"},
			},
		},
		{
			name: "JSON Lines in a .json file, read a line at a time as before",
			in:   "{\"access_token\":\"t1\"}\n{\"access_token\":\"t2\"\n{\"access_token\":\"t3\"}\n",
			want: []wantRow{
				{N: 1, Token: "t1"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 2: not valid JSON"},
				{N: 3, Token: "t3"},
			},
		},
		{
			name: "a syntax error in an array ends it, naming its line",
			in:   "[\n{\"access_token\":\"t1\"},\n{\"access_token\":\"t2\",,}\n]",
			want: []wantRow{{N: 1, Token: "t1"}},
			err:  "manifest line 3: not valid JSON, and a JSON document cannot be read past it: mend it, or write the manifest as JSON Lines",
		},
		{
			name: "an array cut short",
			in:   "[\n{\"access_token\":\"t1\"},\n{\"access_token\":",
			want: []wantRow{{N: 1, Token: "t1"}},
			err:  "manifest line 3: the JSON is cut short: the file ends before its last value does",
		},
		{
			name: "an array without its end",
			in:   "[{\"access_token\":\"t1\"}\n",
			want: []wantRow{{N: 1, Token: "t1"}},
			err:  "manifest line 1: the JSON is cut short",
		},
		{
			name: "more after the array",
			in:   "[{\"access_token\":\"t1\"}]\n[]",
			want: []wantRow{{N: 1, Token: "t1"}},
			err:  "manifest line 2: more JSON after the array's end",
		},
		{
			name: "a pretty-printed object cut short",
			in:   skeleton[:40],
			err:  "manifest line 3: the JSON is cut short",
		},
		{
			name: "a stray brace after the object",
			in:   skeleton + "}\n",
			want: []wantRow{{N: 1, Token: "t1", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}}}},
			err:  "manifest line 8: not valid JSON",
		},
		{
			name: "empty",
			in:   "\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := readManifest(t, batch.ReadJSON(strings.NewReader(tt.in)))
			checkRows(t, rows, tt.want)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Next error = %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Next error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// TestJSONArrayTokenInSyntaxError: the error that ends an array names a
// line, and quotes nothing of it.
func TestJSONArrayTokenInSyntaxError(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	_, err := readManifest(t, batch.ReadJSON(strings.NewReader(`[{"access_token":"`+tok+`" "id":"x"}]`)))
	if err == nil {
		t.Fatal("Next error = nil, want a syntax error")
	}
	assertNoTokenPiece(t, tok, err.Error())
}

// TestPrettyJSONInJSONLines: a pretty-printed object in a JSON Lines
// manifest is one error naming its line, not an invalid row a line; the
// rows before it are read as they are.
func TestPrettyJSONInJSONLines(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		rows     int
		line     int
		text     string
	}{
		{"the skeleton", skeleton, 0, 1, "{"},
		{"after good lines", `{"access_token":"t1"}` + "\n\n" + skeleton, 1, 3, "{"},
		{"an array", "[\n" + skeleton + "]\n", 0, 1, "["},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := readManifest(t, batch.ReadJSONLines(strings.NewReader(tt.in)))
			var pe *batch.PrettyJSONError
			if !errors.As(err, &pe) || pe.Line != tt.line || pe.Text != tt.text {
				t.Fatalf("Next error = %v, want a PrettyJSONError at line %d", err, tt.line)
			}
			if len(rows) != tt.rows {
				t.Errorf("%d rows before the error, want %d", len(rows), tt.rows)
			}
			want := fmt.Sprintf("manifest line %d holds only %q: this is pretty-printed JSON, and JSON Lines holds one whole object a line", tt.line, tt.text)
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
		})
	}
	// Compact lines are JSON Lines as before.
	rows, err := readManifest(t, batch.ReadJSONLines(strings.NewReader("{\"access_token\":\"t1\"}\n{\"access_token\":\n")))
	if err != nil || len(rows) != 2 || rows[1].Err == nil {
		t.Errorf("JSON Lines with a bad line: %d rows, error %v; want 2 rows, the second invalid", len(rows), err)
	}
}

// TestJSONArrayMemoryIsFlat reads an array of 30,000 rows of about 1 KiB
// (30 MiB): each is read, and the heap stays within a few MiB.
func TestJSONArrayMemoryIsFlat(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: strings.Repeat("a", 700)})
	checkFlatMemory(t, batch.ReadJSON(&madeStream{n: 30000, head: "[", tail: "\n]\n", row: func(dst []byte, i int) []byte {
		if i > 1 {
			dst = append(dst, ',')
		}
		return fmt.Appendf(dst, "\n  {\"id\": \"u%d\", \"access_token\": %q, \"sms_enabled\": true}", i, tok)
	}}), 30000, 8)
}

// TestJSONValueTooLong: a value the decoder would have to hold whole past
// the limit ends the manifest, rather than memory growing with it.
func TestJSONValueTooLong(t *testing.T) {
	in := "[\n{\"access_token\":\"t1\"},\n{\"id\":\"" + strings.Repeat("x", 5*batch.MaxLineBytes) + "\"}]"
	rows, err := readManifest(t, batch.ReadJSON(strings.NewReader(in)))
	if len(rows) != 1 || err == nil || !strings.Contains(err.Error(), "a value longer than 4 MiB") {
		t.Fatalf("%d rows, error %v; want 1 row, then an error for the long value", len(rows), err)
	}
	in = "[{\"id\":\"" + strings.Repeat("x", batch.MaxLineBytes) + "\",\"access_token\":\"t1\"}]"
	rows, err = readManifest(t, batch.ReadJSON(strings.NewReader(in)))
	if err != nil || len(rows) != 1 || rows[0].Err == nil || !strings.Contains(rows[0].Err.Message, "longer than 1048576 bytes") {
		t.Fatalf("%d rows, error %v; want 1 invalid row for an object over 1 MiB", len(rows), err)
	}
}

// FuzzJSONManifest reads fuzzed JSON manifests (arrays, pretty-printed
// objects, JSON Lines): no panic; rows numbered in order, each with the
// tool's codes; and no piece of a planted token in a row's message or in
// the error that ends the manifest (a syntax error ends a JSON document).
func FuzzJSONManifest(f *testing.F) {
	access, idTok := manifestTokens()
	for _, s := range []string{
		"",
		"[]",
		`[{"access_token":"` + tokenMarker + `","sms_enabled":true}]`,
		"[\n  {\n    \"AccessToken\": \"" + tokenMarker + "\",\n    \"SMSMfaSettings\": {\"Enabled\": true}\n  },\n  {\"access_token\":\"" + access + "\"}\n]\n",
		"{\n    \"AccessToken\": \"" + tokenMarker + "\"\n}\n{\n    \"AccessToken\": \"x\"\n}\n",
		`{"access_token":"` + tokenMarker + `"}` + "\n" + `{"id":"` + idTok + `","access_token":"x"}`,
		`[{"access_token":"` + tokenMarker + `"},` + "\n" + `"` + tokenMarker + `"]`,
		`[{"access_token":"` + tokenMarker + `"` + "\n",
		`[{"username":"alice","user_pool_id":"eu-west-1_AbC","sms_enabled":true},{"access_token":"` + tokenMarker + `"}]`,
		`[{"access_token":"` + tokenMarker + `"}] ` + tokenMarker,
		`[1, "` + tokenMarker + `", null, {"` + tokenMarker + `": true}]`,
	} {
		f.Add([]byte(s))
	}
	tok := plantedToken()
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := plant(raw, tok)
		rows, err := readManifest(t, batch.ReadJSON(bytes.NewReader(in)))
		if err != nil {
			checkMessage(t, "the manifest's error", err.Error(), tok, raw)
		}
		checkReadRows(t, rows, tok, raw)
	})
}
