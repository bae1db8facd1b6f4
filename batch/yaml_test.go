package batch_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"go.yaml.in/yaml/v3"
)

func TestReadYAML(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	anchor, _, _ := strings.Cut(tok, ".") // an anchor's characters
	tests := []struct {
		name string
		in   string
		want []wantRow
	}{
		{
			name: "a stream of documents, manifest keys and the API's shape",
			in: "id: alice\naccess_token: t1\nsms_enabled: true\nsms_preferred: no\n" +
				"---\nid: 42\nAccessToken: t2\nSoftwareTokenMfaSettings:\n  Enabled: yes\n  PreferredMfa: true\n" +
				"--- {access_token: t3, email_enabled: 'TRUE', webauthn_enabled: true}\n",
			want: []wantRow{
				{N: 1, ID: "alice", Token: "t1", Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.False}}},
				{N: 2, ID: "42", Token: "t2", Settings: batch.Settings{SoftwareToken: enabledPref}},
				{N: 3, Token: "t3", Settings: batch.Settings{Email: enabledOnly, WebAuthn: enabledOnly}},
			},
		},
		{
			name: "a sequence of rows",
			in:   "# rollout\n- id: a\n  access_token: t1\n  sms_enabled: true\n- {id: b, AccessToken: t2, EmailMfaSettings: {Enabled: true}}\n",
			want: []wantRow{
				{N: 1, ID: "a", Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
				{N: 2, ID: "b", Token: "t2", Settings: batch.Settings{Email: enabledOnly}},
			},
		},
		{
			name: "sequences in a stream, empty and null documents hold no row",
			in:   "---\n- {access_token: t1}\n---\n# nothing\n---\n~\n---\n[]\n...\n---\n- {access_token: t2}\n- {access_token: t3}\n",
			want: []wantRow{{N: 1, Token: "t1"}, {N: 2, Token: "t2"}, {N: 3, Token: "t3"}},
		},
		{
			name: "the skeleton's shape, a real token folded over lines, null and ~ not set",
			in:   "SMSMfaSettings:  # SMS\n  Enabled: true\n  PreferredMfa: ~\nEmailMfaSettings: null\nAccessToken: >-\n  " + tok[:40] + "\n  " + tok[40:] + "\n",
			want: []wantRow{{N: 1, Token: tok[:40] + " " + tok[40:], Settings: batch.Settings{SMS: enabledOnly}}},
		},
		{
			name: "a directive and an end marker",
			in:   "%YAML 1.1\n---\naccess_token: t1\n...\n%YAML 1.1\n# the second\n\n---\naccess_token: t2\n",
			want: []wantRow{{N: 1, Token: "t1"}, {N: 2, Token: "t2"}},
		},
		{
			name: "anchors and aliases within a document",
			in:   "- &on {Enabled: true}\n- {AccessToken: t1, SMSMfaSettings: *on}\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: `line 1: unknown key "Enabled"`},
				{N: 2, Token: "t1", Settings: batch.Settings{SMS: enabledOnly}},
			},
		},
		{
			name: "BOM and CRLF",
			in:   "\ufeffaccess_token: t1\r\n---\r\naccess_token: t2\r\n",
			want: []wantRow{{N: 1, Token: "t1"}, {N: 2, Token: "t2"}},
		},
		{
			name: "bad YAML costs its own document, named by its line in the file",
			in:   "access_token: t1\n---\naccess_token: [t2\nsms_enabled: true\n---\naccess_token: t3\n",
			want: []wantRow{
				{N: 1, Token: "t1"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 3: not valid YAML: did not find expected ',' or ']'"},
				{N: 3, Token: "t3"},
			},
		},
		{
			name: "tabs, a bad indent, a stray quote: each its own row",
			in:   "access_token: t1\n\tsms_enabled: true\n---\naccess_token: t2\n  sms_enabled: true\n---\naccess_token: \"t3\n---\naccess_token: t4\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 2: not valid YAML: found a tab character that violates indentation"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 5: not valid YAML: mapping values are not allowed in this context"},
				{N: 3, Code: batch.CodeInvalidRow, Msg: "line 7: not valid YAML: found unexpected end of stream"},
				{N: 4, Token: "t4"},
			},
		},
		{
			name: "the JSON Lines rules, with the YAML line",
			in: "access_token: t1\nsms_enabeld: true\n---\n\naccess_token: t2\nsms_enabled: maybe\n---\nAccessToken: t3\nsms_enabled: true\n" +
				"---\naccess_token: t4\naccess_token: t5\n---\naccess_token: {a: 1}\n---\nid: " + tok + "\naccess_token: t6\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: `line 1: unknown key "sms_enabeld"; the keys are id, access_token (or username and user_pool_id), sms_enabled,`},
				{N: 2, Token: "t2", Code: batch.CodeInvalidBoolean, Msg: `line 5: key sms_enabled: "maybe"`},
				{N: 3, Code: batch.CodeInvalidRow, Msg: "line 8 mixes manifest keys"},
				{N: 4, Code: batch.CodeInvalidRow, Msg: `line 12: key "access_token" is given twice`},
				{N: 5, Code: batch.CodeInvalidRow, Msg: "line 14: key access_token: want a string, not a object"},
				{N: 6, Code: batch.CodeInvalidRow, Msg: "id looks like an access token"},
			},
		},
		{
			name: "a row that is not a mapping",
			in:   "just text\n---\n- [a, b]\n- 7\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 1: a row is a mapping of keys to values (access_token: ...), not a single value"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 3: a row is a mapping of keys to values (access_token: ...), not a sequence"},
				{N: 3, Code: batch.CodeInvalidRow, Msg: "line 4: a row is a mapping"},
			},
		},
		{
			name: "an unknown anchor is named without quoting the token it may be",
			in:   "id: a\naccess_token: *" + anchor + "\n---\naccess_token: t2\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 2: not valid YAML: unknown anchor '" + anchor[:12] + "...' referenced"},
				{N: 2, Token: "t2"},
			},
		},
		{
			name: "an alias that holds itself is refused, not expanded forever",
			in:   "access_token: t1\nsms_enabled: &a [*a]\n---\naccess_token: t2\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "values nest more than 32 deep"},
				{N: 2, Token: "t2"},
			},
		},
		{
			name: "numbers JSON cannot write are read as text",
			in:   "id: 0x1F\naccess_token: t1\nsms_enabled: .nan\n---\nid: 123456789012345678901234567890\naccess_token: t2\n",
			want: []wantRow{
				{N: 1, ID: "31", Token: "t1", Code: batch.CodeInvalidBoolean, Msg: `key sms_enabled: ".nan"`},
				{N: 2, ID: "123456789012345678901234567890", Token: "t2"},
			},
		},
		{
			name: "a line over the limit costs its document",
			in:   "access_token: t1\nid: " + strings.Repeat("x", batch.MaxLineBytes) + "\n---\naccess_token: t2\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 2 is longer than 1048576 bytes"},
				{N: 2, Token: "t2"},
			},
		},
		{
			name: "--- inside a quoted value ends the document, as YAML says",
			in:   "access_token: \"t1\n--- x\"\n",
			want: []wantRow{
				{N: 1, Code: batch.CodeInvalidRow, Msg: "line 2: not valid YAML"},
				{N: 2, Code: batch.CodeInvalidRow, Msg: "line 2: a row is a mapping"},
			},
		},
		{
			name: "---text and % inside a value are content, not markers",
			in:   "access_token: t1\nid: >\n  a\n---x: 1\n---\nid: \"a\n%b\"\naccess_token: t2\n",
			want: []wantRow{
				{N: 1, ID: "a", Code: batch.CodeInvalidRow, Msg: `line 1: unknown key "---x"`},
				{N: 2, ID: "a %b", Token: "t2"},
			},
		},
		{
			name: "empty",
			in:   "",
		},
		{
			name: "comments alone",
			in:   "# nothing yet\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkManifest(t, batch.ReadYAML(strings.NewReader(tt.in)), tt.want, tok)
		})
	}
}

// TestYAMLDocumentTooLong: a document that cannot be held, such as a long
// sequence, ends the manifest with an error that says how to write it.
func TestYAMLDocumentTooLong(t *testing.T) {
	var b strings.Builder
	b.WriteString("access_token: t0\n---\n")
	for i := 0; b.Len() <= batch.MaxYAMLDocBytes; i++ {
		fmt.Fprintf(&b, "- {id: u%d, access_token: %s, sms_enabled: true}\n", i, strings.Repeat("t", 1000))
	}
	b.WriteString("---\naccess_token: t1\n")
	rows, err := readManifest(t, batch.ReadYAML(strings.NewReader(b.String())))
	if len(rows) != 1 || string(rows[0].Token) != "t0" {
		t.Errorf("read %d rows before the long document, want the 1 before it", len(rows))
	}
	want := "manifest line 2: a YAML document longer than 8 MiB: write one row a document, with --- between them"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Next error = %v, want one containing %q", err, want)
	}
	if _, err2 := batch.ReadYAML(strings.NewReader("")).Next(); err2 != io.EOF {
		t.Errorf("an empty manifest: Next = %v, want io.EOF", err2)
	}
}

// madeStream is a manifest of n rows made as it is read, so that the
// reader's memory, not the test's, is what a heap reading measures: head
// first, row(i) for each i from 1 to n, then tail.
type madeStream struct {
	n, next    int
	head, tail string
	row        func(dst []byte, i int) []byte
	pending    []byte
}

func (s *madeStream) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		switch {
		case s.next > s.n+1:
			return 0, io.EOF
		case s.next == 0:
			s.pending = append(s.pending[:0], s.head...)
		case s.next == s.n+1:
			s.pending = append(s.pending[:0], s.tail...)
		default:
			s.pending = s.row(s.pending[:0], s.next)
		}
		s.next++
	}
	k := copy(p, s.pending)
	s.pending = s.pending[k:]
	return k, nil
}

// checkFlatMemory reads m's n rows, rows u1 to un with no error, and
// fails the test if the live heap grows more than maxMiB while it does.
func checkFlatMemory(t *testing.T, m batch.Manifest, n int, maxMiB float64) {
	t.Helper()
	runtime.GC()
	base := liveHeap()
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
		if r.Err != nil || r.N != rows || r.ID != fmt.Sprintf("u%d", rows) {
			t.Fatalf("row %d: N %d, id %q, error %v", rows, r.N, r.ID, r.Err)
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
	if grew > maxMiB {
		t.Errorf("the live heap grew %.1f MiB while reading %d rows of 1 KiB, want at most %.0f", grew, n, maxMiB)
	}
}

// TestYAMLStreamMemoryIsFlat reads 30,000 documents of about 1 KiB (30
// MiB): each is read, one row each, and the heap stays within a few MiB.
func TestYAMLStreamMemoryIsFlat(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: strings.Repeat("a", 700)})
	checkFlatMemory(t, batch.ReadYAML(&madeStream{n: 30000, row: func(dst []byte, i int) []byte {
		return fmt.Appendf(dst, "---\nid: u%d\naccess_token: %s\nsms_enabled: true\n", i, tok)
	}}), 30000, 8)
}

// FuzzYAMLManifest checks that no input panics the reader, that rows are
// numbered in order with the tool's own codes and no piece of a token in
// any message, that a document which is not a sequence is at most one
// row, and that a document repeated three times in a stream gives its
// rows three times: a bad document costs itself alone.
func FuzzYAMLManifest(f *testing.F) {
	access, idTok := manifestTokens()
	for _, s := range []string{
		"",
		"access_token: " + tokenMarker + "\nsms_enabled: true\n",
		"id: alice\nAccessToken: " + tokenMarker + "\nSMSMfaSettings:\n  Enabled: yes\n  PreferredMfa: false\n",
		"- {access_token: " + tokenMarker + ", email_enabled: true}\n- {access_token: " + access + "}\n",
		"access_token: *" + tokenMarker + "\n",
		"access_token: &" + tokenMarker + " x\nid: *" + tokenMarker + "\n",
		"id: " + idTok + "\naccess_token: " + tokenMarker + "\n",
		tokenMarker + ": true\n",
		"access_token: \"" + tokenMarker + "\nsms_enabled: [\n",
		"access_token: !!binary " + tokenMarker + "\n",
		"sms_enabled: &a [*a]\n",
		"? [a, b]\n: c\n",
		"access_token: |\n  " + tokenMarker + "\n\tx: 1\n",
		"<<: {access_token: " + tokenMarker + "}\n",
		"a: &a [*a, *a, *a, *a]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n",
		"id: 1e400\naccess_token: 0o17\nsms_enabled: -.inf\n",
		"\"\\x00\\u202e\": 1\n",
		"- {username: alice, user_pool_id: eu-west-1_AbC, sms_enabled: true}\n- {access_token: " + tokenMarker + "}\n",
		"Username: " + tokenMarker + "\nUserPoolId: x\nSMSMfaSettings: {}\n",
	} {
		f.Add([]byte(s))
	}
	tok := plantedToken()
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := plant(raw, tok)
		rows := checkManifestRows(t, batch.ReadYAML(bytes.NewReader(in)), tok, raw)
		if bytes.Contains(in, []byte("\ufeff")) || len(in) > 1<<16 || hasDocumentLine(in) {
			return
		}
		var node yaml.Node
		if yaml.Unmarshal(in, &node) == nil && len(node.Content) > 0 && node.Content[0].Kind != yaml.SequenceNode && len(rows) > 1 {
			t.Errorf("a document that is not a sequence gave %d rows", len(rows))
		}
		// Rows naming users two ways end the manifest at the first switch,
		// however many copies follow.
		var me *batch.ModeError
		if _, err := readManifest(t, batch.ReadYAML(bytes.NewReader(in))); errors.As(err, &me) {
			return
		}
		three := bytes.Join([][]byte{in, in, in}, []byte("\n---\n"))
		again := checkManifestRows(t, batch.ReadYAML(bytes.NewReader(three)), tok, raw)
		if len(again) != 3*len(rows) {
			t.Fatalf("the document gave %d rows alone, and %d three times over", len(rows), len(again))
		}
		for i, r := range again {
			if code(r) != code(rows[i%max(len(rows), 1)]) {
				t.Errorf("row %d of three copies: %s; the same row alone: %s", r.N, code(r), code(rows[i%len(rows)]))
			}
		}
	})
}

// hasDocumentLine reports whether in has a line that starts or ends a
// document, or a directive, so that copies of it are not one document each.
func hasDocumentLine(in []byte) bool {
	for line := range bytes.Lines(in) {
		if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) || bytes.HasPrefix(line, []byte("%")) {
			return true
		}
	}
	return bytes.ContainsAny(in, "\r\u0085\u2028\u2029")
}

func code(r batch.Row) string {
	if r.Err == nil {
		return "ok"
	}
	return r.Err.Code
}
