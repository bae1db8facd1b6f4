package batch_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// manifestFile writes a manifest file and opens it, as the tool does.
func manifestFile(t *testing.T, name string, r io.Reader) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}

// byExpiry orders the manifest in fh, CSV or JSON Lines by its name.
func byExpiry(t *testing.T, fh *os.File) *batch.Rows {
	t.Helper()
	var m batch.Manifest
	if strings.HasSuffix(fh.Name(), ".csv") {
		c, err := batch.ReadCSV(fh)
		if err != nil {
			t.Fatal(err)
		}
		m = c
	} else {
		m = batch.ReadJSONL(fh)
	}
	rows, err := batch.ByExpiry(m, fh)
	if err != nil {
		t.Fatalf("ByExpiry = %v", err)
	}
	return rows
}

func TestByExpiry(t *testing.T) {
	now := time.Now()
	tok := func(user string, in time.Duration) string {
		return cognitotest.Token(cognitotest.Claims{Username: user, Exp: now.Add(in).Truncate(time.Second)})
	}
	late, soon, later, soonest := tok("late", 50*time.Minute), tok("soon", 10*time.Minute), tok("later", 55*time.Minute), tok("soonest", 5*time.Minute)
	// Rows whose token cannot be read go first, in manifest order; the
	// others by expiry. Each keeps its number, and its error the line.
	want := []wantRow{
		{N: 2, Code: batch.CodeInvalidRow, Msg: "line 5: a quoted cell does not end on its line"},
		{N: 4, Token: "not-a-token", Settings: batch.Settings{SMS: enabledOnly}},
		{N: 6, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 10 is longer than %d bytes", batch.MaxLineBytes)},
		{N: 7, ID: "badbool", Token: late, Code: batch.CodeInvalidBoolean, Msg: `column sms_enabled: "maybe" is not a boolean`},
		{N: 5, ID: "soonest", Token: soonest, Settings: batch.Settings{SMS: enabledOnly}},
		{N: 3, ID: "soon", Token: soon, Settings: batch.Settings{SMS: enabledPref}},
		{N: 1, ID: "late", Token: late, Settings: batch.Settings{SMS: enabledOnly}},
		{N: 8, ID: "later", Token: later, Settings: batch.Settings{SMS: batch.Factor{Enabled: batch.False}}},
	}
	csv := "\ufeff\r\nid,access_token,sms_enabled,sms_preferred\r\n" +
		"late," + late + ",true,\r\n" +
		"\r\n" +
		"\"stray," + late + ",true,\r\n" +
		"soon," + soon + ",true,true\r\n" +
		",not-a-token,yes,\r\n" +
		",,,\r\n" +
		"soonest," + soonest + ",1,\r\n" +
		"long," + strings.Repeat("x", batch.MaxLineBytes) + ",,\r\n" +
		"badbool," + late + ",maybe,\r\n" +
		"later," + later + ",false,"
	jsonl := "\ufeff" + `{"id":"late","access_token":"` + late + `","sms_enabled":true}` + "\n" +
		`{"id":"stray","access_token":"` + late + "\n" +
		`{"id":"soon","AccessToken":"` + soon + `","SMSMfaSettings":{"Enabled":true,"PreferredMfa":true}}` + "\n" +
		"\n" +
		`{"access_token":"not-a-token","sms_enabled":"yes"}` + "\n" +
		`{"id":"soonest","access_token":"` + soonest + `","sms_enabled":"1"}` + "\n" +
		"  \n" +
		`{"id":"long","access_token":"` + strings.Repeat("x", batch.MaxLineBytes) + `"}` + "\n" +
		`{"id":"badbool","access_token":"` + late + `","sms_enabled":"maybe"}` + "\n" +
		`{"id":"later","access_token":"` + later + `","sms_enabled":false}`
	jsonWant := []wantRow{
		{N: 2, Code: batch.CodeInvalidRow, Msg: "line 2: not valid JSON"},
		want[1],
		{N: 6, Code: batch.CodeInvalidRow, Msg: fmt.Sprintf("line 8 is longer than %d bytes", batch.MaxLineBytes)},
		{N: 7, ID: "badbool", Token: late, Code: batch.CodeInvalidBoolean, Msg: `line 9: key sms_enabled: "maybe" is not a boolean`},
		want[4], want[5], want[6], want[7],
	}
	for _, tc := range []struct {
		format, text string
		want         []wantRow
	}{{"csv", csv, want}, {"jsonl", jsonl, jsonWant}} {
		t.Run(tc.format, func(t *testing.T) {
			rows := byExpiry(t, manifestFile(t, "m."+tc.format, strings.NewReader(tc.text)))
			again := rows.Again()
			checkManifest(t, rows, tc.want, late)
			// Again reads the same rows from the start, whether or not the
			// first reader is done.
			checkManifest(t, again, tc.want, late)
			checkManifest(t, rows.Again(), tc.want, late)
		})
	}
}

// TestByExpiryNotSeekable checks that a manifest that cannot be read
// twice, a pipe, is refused before its rows are read.
func TestByExpiryNotSeekable(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		io.WriteString(pw, "access_token\nt1\nt2\n")
		pw.Close()
	}()
	m, err := batch.ReadCSV(pr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batch.ByExpiry(m, pr); !errors.Is(err, batch.ErrNotSeekable) {
		t.Fatalf("ByExpiry of a pipe = %v, want ErrNotSeekable", err)
	}
	if r, err := m.Next(); err != nil || r.N != 1 || r.Token != "t1" {
		t.Errorf("after ByExpiry refused, Next = row %d %q, %v; want row 1 unread", r.N, r.Token, err)
	}
}

// TestByExpiryFileChanged checks that a row that is gone from the file
// when its turn comes is an error, not another row read in its place.
func TestByExpiryFileChanged(t *testing.T) {
	fh := manifestFile(t, "m.csv", strings.NewReader("access_token,id\nt1,a\nt2,b\n"))
	rows := byExpiry(t, fh)
	if err := os.WriteFile(fh.Name(), []byte("access_token,id\nt1,a\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := rows.Next(); err != nil || r.ID != "a" {
		t.Fatalf("first Next = %+v, %v; want row 1", r, err)
	}
	if r, err := rows.Next(); err == nil || err.Error() != "manifest: line 3 no longer holds row 2: the file changed during the run" {
		t.Errorf("second Next = row %d, %v; want the error that the file changed", r.N, err)
	}
}

// TestByExpiryMemory orders a manifest of 100,000 rows, a 90 MB file:
// what it holds must be a small part of that (when it held every row,
// it was twice the file).
func TestByExpiryMemory(t *testing.T) {
	const n = 100000
	fh := manifestFile(t, "m.csv", &manifestStream{n: n, token: cognitotest.Token(cognitotest.Claims{Username: "u"})})
	runtime.GC()
	base := liveHeap()
	rows := byExpiry(t, fh)
	runtime.GC()
	now := liveHeap()
	held := float64(now-min(now, base)) / (1 << 20)
	t.Logf("ByExpiry of %d rows holds %.1f MiB", n, held)
	if held > 4 {
		t.Errorf("ByExpiry of %d rows holds %.1f MiB, want at most 4: 16 bytes a row", n, held)
	}
	runtime.KeepAlive(rows)
	got, err := readManifest(t, rows)
	if err != nil || len(got) != n {
		t.Errorf("read back %d rows (%v), want %d", len(got), err, n)
	}
}
