package batch_test

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"go.uber.org/goleak"
)

// filler reads as n copies of b, so a test can feed megabytes it never
// holds: only what the reader under test keeps is counted.
type filler struct {
	b byte
	n int
}

func (r *filler) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return k, nil
}

// hostileInput is pre, then n copies of b, then post.
func hostileInput(pre string, b byte, n int, post string) io.Reader {
	return io.MultiReader(strings.NewReader(pre), &filler{b, n}, strings.NewReader(post))
}

// allocated returns the bytes allocated while f ran: an upper bound on
// the heap f needed, whatever the garbage collector did meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// openCSV reads a whole CSV manifest, failing the test if its header is
// refused.
func openCSV(t *testing.T, r io.Reader) []batch.Row {
	t.Helper()
	m, err := batch.ReadCSV(r)
	if err != nil {
		t.Fatalf("ReadCSV = %v, want a manifest", err)
	}
	defer closeWithin(t, m)
	rows, err := readManifest(t, m)
	if err != nil {
		t.Fatalf("Next = %v, want rows and io.EOF", err)
	}
	return rows
}

const tenMB = 10 << 20

func TestHostileJSONLLongLine(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "bob"})
	tests := []struct {
		name string
		in   io.Reader
		want []wantRow
	}{
		{
			name: "10 MB line, then rows",
			in: hostileInput(`{"id":"`, 'x', tenMB, `","access_token":"t1"}`+"\n"+
				`{"id":"bob","access_token":"`+tok+`"}`+"\r\n\n"+`{"id":"carol","access_token":"t3"}`),
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 1 is longer than %d bytes", batch.MaxLineBytes)},
				{N: 2, ID: "bob", Token: tok},
				{N: 3, ID: "carol", Token: "t3"},
			},
		},
		{
			// The same bound as for 10 MB: what is held does not grow with
			// the line.
			name: "40 MB line",
			in:   hostileInput(`{"id":"`, 'x', 4*tenMB, `"}`+"\n"+`{"access_token":"t2"}`),
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1 is longer than"},
				{N: 2, Token: "t2"},
			},
		},
		{
			name: "10 MB last line with no line end",
			in:   hostileInput(`{"access_token":"t1"}`+"\n\n"+`{"id":"`, 'x', tenMB, `"}`),
			want: []wantRow{
				{N: 1, Token: "t1"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 3 is longer than"},
			},
		},
		{
			name: "10 MB of blanks",
			in:   hostileInput(`{"access_token":"t1"}`+"\n", ' ', tenMB, "\n"+`{"access_token":"t2"}`),
			want: []wantRow{
				{N: 1, Token: "t1"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 2 is longer than"},
				{N: 3, Token: "t2"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows []batch.Row
			var err error
			n := allocated(func() { rows, err = readManifest(t, batch.ReadJSONL(tc.in)) })
			if err != nil {
				t.Fatalf("Next = %v, want rows and io.EOF", err)
			}
			checkRows(t, rows, tc.want)
			t.Logf("reading allocated %.1f MB", float64(n)/(1<<20))
			if limit := uint64(batch.MaxLineBytes + 4<<20); n > limit {
				t.Errorf("reading allocated %d bytes, more than the line limit plus 4 MB (%d): a long line must be skipped, not held", n, limit)
			}
		})
	}
}

// TestHostileJSONLLineLimit checks the limit at its edge: a line of
// MaxLineBytes is read, a longer one is the row's error.
func TestHostileJSONLLineLimit(t *testing.T) {
	const pre, post = `{"id":"i1","access_token":"`, `"}`
	tests := []struct {
		name string
		n    int    // bytes in the line, its end not counted
		end  string // the line end; blank for a last line without one
		long bool
	}{
		{name: "at the limit", n: batch.MaxLineBytes, end: "\n"},
		{name: "at the limit, CRLF", n: batch.MaxLineBytes, end: "\r\n"},
		{name: "at the limit, last line", n: batch.MaxLineBytes},
		{name: "3 over", n: batch.MaxLineBytes + 3, end: "\n", long: true},
		{name: "3 over, last line", n: batch.MaxLineBytes + 3, long: true},
		{name: "1 over", n: batch.MaxLineBytes + 1, end: "\n", long: true},
		{name: "2 over, last line", n: batch.MaxLineBytes + 2, long: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := strings.Repeat("x", tc.n-len(pre)-len(post))
			in := pre + tok + post + tc.end
			if tc.end != "" {
				in += `{"access_token":"t2"}`
			}
			rows, err := readManifest(t, batch.ReadJSONL(strings.NewReader(in)))
			if err != nil {
				t.Fatalf("Next = %v", err)
			}
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			// The token is checked by length: a failure must not log 1 MB.
			switch r := rows[0]; {
			case tc.long && (r.Err == nil || r.Err.Code != batch.CodeInvalidRow || !strings.Contains(r.Err.Message, "line 1 is longer than")):
				t.Errorf("row 1: Err = %v, token of %d bytes; want InvalidRow \"line 1 is longer than\"", r.Err, len(r.Token))
			case !tc.long && (r.Err != nil || r.ID != "i1" || string(r.Token) != tok):
				t.Errorf("row 1: Err = %v, id %q, token of %d bytes; want i1 and the token of %d bytes", r.Err, r.ID, len(r.Token), len(tok))
			}
			if tc.end != "" {
				checkRows(t, rows[1:], []wantRow{{N: 2, Token: "t2"}})
			} else if len(rows) != 1 {
				t.Errorf("%d rows, want 1", len(rows))
			}
		})
	}
}

// longLine checks a row whose line was cut: a short InvalidRow naming it,
// and no cell of a megabyte kept.
func longLine(t *testing.T, r batch.Row) {
	t.Helper()
	if r.Err == nil || r.Err.Code != batch.CodeInvalidRow || !strings.Contains(r.Err.Message, "line 2 is longer than") || len(r.Err.Message) > 200 {
		t.Fatalf("row 1: Err %v, want a short InvalidRow naming line 2", r.Err)
	}
	if len(r.ID) > 1024 {
		t.Errorf("row 1 keeps an id of %d bytes", len(r.ID))
	}
}

// TestHostileCSVLongCell feeds records with a 10 MB cell. Physical lines
// are cut at MaxLineBytes, so memory stays bounded, and the row holding a
// cut line is that row's error. Each row is still reported as its own.
func TestHostileCSVLongCell(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tok := cognitotest.Token(cognitotest.Claims{Username: "bob"})
	bob := wantRow{N: 2, ID: "bob", Token: tok}
	tests := []struct {
		name  string
		in    io.Reader
		want  []wantRow                       // every row, when given
		check func(t *testing.T, r batch.Row) // else row 1, bob's row 2 following
	}{
		{
			name:  "access_token",
			in:    hostileInput("id,access_token\nalice,", 'A', tenMB, "\nbob,"+tok+"\n"),
			check: longLine,
		},
		{
			name:  "id",
			in:    hostileInput("access_token,id\nt1,", 'x', tenMB, "\n"+tok+",bob\n"),
			check: longLine,
		},
		{
			name:  "boolean",
			in:    hostileInput("id,access_token,sms_enabled\nalice,t1,", 'y', tenMB, "\nbob,"+tok+",\n"),
			check: longLine,
		},
		{
			name: "quoted cell never closed",
			in:   hostileInput("id,access_token\nbob,"+tok+"\nalice,\"", 'x', tenMB, "\n"),
			want: []wantRow{{N: 1, ID: "bob", Token: tok}, {N: 2, Code: batch.CodeInvalidRow, Msg: "line 3 is longer than"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows []batch.Row
			n := allocated(func() { rows = openCSV(t, tc.in) })
			t.Logf("reading allocated %.1f MB", float64(n)/(1<<20))
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			if tc.want != nil {
				checkRows(t, rows, tc.want)
				if m := rows[1].Err.Message; len(m) > 200 {
					t.Errorf("row 2 message is %d bytes, want a short one", len(m))
				}
				return
			}
			tc.check(t, rows[0])
			if len(rows) != 2 {
				t.Fatalf("%d rows, want 2", len(rows))
			}
			checkRows(t, rows[1:], []wantRow{bob})
		})
	}
}

// TestHostileBytes puts NULs and invalid UTF-8 in cells, lines and names.
// A row is read and named; a cell that cannot be what its column needs is
// that row's error; a message shows the bytes escaped.
func TestHostileBytes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tests := []struct {
		name  string
		jsonl bool
		in    string
		want  []wantRow
		// token is the row-1 ParseToken message wanted, when not blank.
		token string
		// header is the wanted ReadCSV error message, when not blank.
		header string
	}{
		{
			name: "CSV NUL in id",
			in:   "id,access_token\nal\x00ice,t1\nbob,t2\n",
			// The id is echoed as it is; the report's writer must cope.
			want: []wantRow{{N: 1, ID: "al\x00ice", Token: "t1"}, {N: 2, ID: "bob", Token: "t2"}},
		},
		{
			name: "CSV invalid UTF-8 in id",
			in:   "id,access_token\n\xff\xfe,t1\n",
			want: []wantRow{{N: 1, ID: "\xff\xfe", Token: "t1"}},
		},
		{
			name:  "CSV NUL in token",
			in:    "id,access_token\nalice,ab\x00cd\n",
			want:  []wantRow{{N: 1, ID: "alice", Token: "ab\x00cd"}},
			token: "byte 3 is not base64url",
		},
		{
			name:  "CSV invalid UTF-8 in token",
			in:    "access_token\nabc\xc3\x28\n",
			want:  []wantRow{{N: 1, Token: "abc\xc3\x28"}},
			token: "byte 4 is not base64url",
		},
		{
			name: "CSV NUL in boolean",
			in:   "id,access_token,sms_enabled\nalice,t1,tr\x00ue\nbob,t2,true\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `column sms_enabled: "tr\x00ue" is not a boolean`},
				{N: 2, ID: "bob", Token: "t2", Settings: batch.Settings{SMS: enabledOnly}},
			},
		},
		{
			name: "CSV invalid UTF-8 in boolean",
			in:   "access_token,email_enabled\nt1,\xff\n",
			want: []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `column email_enabled: "\xff" is not a boolean`}},
		},
		{
			name:   "CSV NUL in header",
			in:     "access_token,\x00\nt1,x\n",
			header: `unknown column "\x00" (column 2)`,
		},
		{
			name:   "CSV invalid UTF-8 in header",
			in:     "access_token,sms_\xffenabled\nt1,x\n",
			header: `unknown column "sms_\xffenabled" (column 2)`,
		},
		{
			name:  "JSONL NUL in a string",
			jsonl: true,
			in:    "{\"id\":\"al\x00ice\",\"access_token\":\"t1\"}\n{\"access_token\":\"t2\"}\n",
			want:  []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: not valid JSON at byte 10"}, {N: 2, Token: "t2"}},
		},
		{
			name:  "JSONL NUL line",
			jsonl: true,
			in:    "\x00\n{\"access_token\":\"t2\"}\n",
			want:  []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1 is not a JSON object"}, {N: 2, Token: "t2"}},
		},
		{
			name:  "JSONL escaped NUL in token",
			jsonl: true,
			in:    `{"access_token":"ab\u0000cd"}`,
			want:  []wantRow{{N: 1, Token: "ab\x00cd"}},
			token: "byte 3 is not base64url",
		},
		{
			name:  "JSONL invalid UTF-8 in a string",
			jsonl: true,
			// encoding/json reads it as U+FFFD.
			in:   "{\"id\":\"a\xffb\",\"access_token\":\"t1\"}",
			want: []wantRow{{N: 1, ID: "a\ufffdb", Token: "t1"}},
		},
		{
			name:  "JSONL invalid UTF-8 outside strings",
			jsonl: true,
			in:    "{\"access_token\":\"t1\"\xff}\n{\"access_token\":\"t2\"}",
			want:  []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: not valid JSON at byte 21"}, {N: 2, Token: "t2"}},
		},
		{
			name:  "JSONL invalid UTF-8 in a boolean",
			jsonl: true,
			in:    "{\"access_token\":\"t1\",\"sms_enabled\":\"\x80\"}",
			want:  []wantRow{{N: 1, Token: "t1", Code: batch.CodeInvalidBoolean, Msg: "key sms_enabled"}},
		},
		{
			name:  "JSONL long unknown key of multibyte runes",
			jsonl: true,
			in:    `{"` + strings.Repeat("é", 21) + `":true}`,
			want:  []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "unknown key"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows []batch.Row
			if tc.jsonl {
				var err error
				if rows, err = readManifest(t, batch.ReadJSONL(strings.NewReader(tc.in))); err != nil {
					t.Fatalf("Next = %v", err)
				}
			} else {
				m, err := batch.ReadCSV(strings.NewReader(tc.in))
				if tc.header != "" {
					var he *batch.HeaderError
					if !errors.As(err, &he) || !strings.Contains(err.Error(), tc.header) {
						t.Fatalf("ReadCSV error = %v, want a HeaderError holding %q", err, tc.header)
					}
					checkMessage(t, "header error", err.Error(), "", nil)
					return
				}
				if err != nil {
					t.Fatalf("ReadCSV = %v", err)
				}
				defer closeWithin(t, m)
				if rows, err = readManifest(t, m); err != nil {
					t.Fatalf("Next = %v", err)
				}
			}
			checkRows(t, rows, tc.want)
			for _, r := range rows {
				if r.Err != nil {
					checkMessage(t, fmt.Sprintf("row %d message", r.N), r.Err.Message, "", nil)
				}
			}
			if tc.token != "" {
				_, err := batch.ParseToken(rows[0].Token)
				if err == nil || err.Code != batch.CodeMalformedToken || !strings.Contains(err.Message, tc.token) {
					t.Errorf("ParseToken of row 1 = %v, want MalformedToken holding %q", err, tc.token)
				}
			}
		})
	}
}

// TestHostileWideHeader checks that a header of 5,000 columns is refused
// at once with a message of a readable size.
func TestHostileWideHeader(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cols := func(first string, f func(i int) string) string {
		c := []string{first}
		for i := 1; i < 5000; i++ {
			c = append(c, f(i))
		}
		return strings.Join(c, ",") + "\nt1\n"
	}
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{"unknown names", cols("access_token", func(i int) string { return fmt.Sprintf("col%d", i) }), `unknown column "col1" (column 2)`},
		{"known names first", allColumns + strings.Repeat(",x", 4991) + "\n", `unknown column "x" (column 10)`},
		{"40-byte names", cols("access_token", func(int) string { return strings.Repeat("n", 40) }), `unknown column "` + strings.Repeat("n", 40) + `" (column 2)`},
		{"blank names", cols("access_token", func(int) string { return " " }), "column 2 has no name"},
		{"one name repeated", cols("sms_enabled", func(int) string { return "SMS_Enabled" }), `column "sms_enabled" appears twice`},
		{"a 10 MB name", "access_token," + strings.Repeat("n", tenMB) + "\n", `unknown column "nnnnnnnnnnnn..." (column 2)`},
		{"tokens as names", cols("access_token", func(int) string { return cognitotest.Token(cognitotest.Claims{}) }), "column 2 of the first line looks like a token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batch.ReadCSV(strings.NewReader(tc.in))
			var he *batch.HeaderError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ReadCSV error = %v, want a HeaderError holding %q", err, tc.msg)
			}
			if len(err.Error()) >= 1024 {
				t.Errorf("the header error is %d bytes, want under 1 KB", len(err.Error()))
			}
		})
	}

	t.Run("JSONL object of 5,000 keys", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"access_token":"t1"`)
		for i := range 5000 {
			fmt.Fprintf(&b, `,"key%d":true`, i)
		}
		b.WriteString("}\n")
		rows, err := readManifest(t, batch.ReadJSONL(strings.NewReader(b.String())))
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		checkRows(t, rows, []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: `unknown key "key0"`}})
		if n := len(rows[0].Err.Message); n >= 1024 {
			t.Errorf("the row's message is %d bytes, want under 1 KB", n)
		}
	})
}

// TestHostileEmptyInputs checks manifests with nothing in them.
func TestHostileEmptyInputs(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	csvTests := []struct {
		name string
		in   string
		// empty: ReadCSV returns ErrEmpty; else the manifest has no rows.
		empty bool
	}{
		{name: "empty file", in: "", empty: true},
		{name: "only a BOM", in: "\ufeff", empty: true},
		{name: "blank lines", in: "\n\n\n", empty: true},
		{name: "blank CRLF lines", in: "\r\n\r\n", empty: true},
		{name: "BOM and blank lines", in: "\ufeff\r\n\n", empty: true},
		{name: "lines of spaces", in: "  \n\t\n", empty: true},
		{name: "header only", in: "access_token\n"},
		{name: "header only, no line end", in: "id,access_token"},
		{name: "header only, BOM and CRLF", in: "\ufeffid,access_token\r\n"},
		{name: "header and blank rows", in: "id,access_token\n\n,\n  ,  \r\n\n"},
	}
	for _, tc := range csvTests {
		t.Run("CSV "+tc.name, func(t *testing.T) {
			m, err := batch.ReadCSV(strings.NewReader(tc.in))
			if tc.empty {
				if !errors.Is(err, batch.ErrEmpty) {
					t.Fatalf("ReadCSV error = %v, want ErrEmpty", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCSV = %v, want a manifest with no rows", err)
			}
			defer closeWithin(t, m)
			rows, err := readManifest(t, m)
			if err != nil || len(rows) != 0 {
				t.Errorf("rows %+v, Next error %v; want no rows and io.EOF", rows, err)
			}
		})
	}

	jsonlTests := []struct {
		name string
		in   string
		want []wantRow
	}{
		{name: "empty file", in: ""},
		{name: "only a BOM", in: "\ufeff"},
		{name: "blank lines", in: "\n\n\n"},
		{name: "lines of spaces", in: " \t\r\n  \n"},
		{name: "BOM and blank lines", in: "\ufeff\r\n\r\n"},
		{name: "a CSV header", in: "id,access_token\n", want: []wantRow{{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1 is not a JSON object"}}},
		{name: "BOM then spaces before the object", in: "\ufeff  {\"access_token\":\"t1\"}\n", want: []wantRow{{N: 1, Token: "t1"}}},
	}
	for _, tc := range jsonlTests {
		t.Run("JSONL "+tc.name, func(t *testing.T) {
			rows, err := readManifest(t, batch.ReadJSONL(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatalf("Next = %v", err)
			}
			checkRows(t, rows, tc.want)
		})
	}
}

// TestHostileParseFactorJSON holds settings values that must be refused,
// as they are not one JSON object with each key once.
func TestHostileParseFactorJSON(t *testing.T) {
	tests := []struct {
		in string
	}{
		{in: `{"Enabled":true} x`},
		{in: `{"Enabled":true`},
		{in: `{"Enabled":true}}`},
		{in: `{"Enabled":true}]`},
		{in: `{"Enabled":true,"Enabled":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if f, err := batch.ParseFactor(tc.in, false); err == nil {
				t.Errorf("ParseFactor(%q) = %+v, nil; want an error", tc.in, f)
			}
		})
	}
}
