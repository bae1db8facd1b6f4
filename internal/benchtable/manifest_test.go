package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// The generated tokens must pass the tool's checks as distinct users, or
// the benchmarks would measure rejections and skipped duplicates.
func TestTokensAreDistinctValidUsers(t *testing.T) {
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	m := newTokenMaker(exp)
	subs := map[string]bool{}
	for i := range 1000 {
		tok := m.token(i)
		c, rerr := batch.ParseToken(batch.Token(tok))
		if rerr != nil {
			t.Fatalf("token %d: %v", i, rerr)
		}
		if c.Region != "us-east-1" || !c.Exp.Equal(exp) {
			t.Fatalf("token %d: region %q exp %v, want us-east-1 %v", i, c.Region, c.Exp, exp)
		}
		if subs[c.Sub] {
			t.Fatalf("token %d repeats sub %s", i, c.Sub)
		}
		subs[c.Sub] = true
		// About the size of a real Cognito access token.
		if len(tok) < 800 || len(tok) > 1500 {
			t.Fatalf("token %d is %d bytes", i, len(tok))
		}
	}
}

func TestManifestReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := writeManifest(path, 50, newTokenMaker(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	readManifest(t, path, false)
}

// The admin manifests must read as distinct admin rows in the bench's
// pool, or the benchmarks would measure rejections.
func TestAdminManifestReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := writeAdminManifest(path, 50); err != nil {
		t.Fatal(err)
	}
	readManifest(t, path, true)
}

// readManifest reads the 50 rows of a manifest at path, each valid, of
// a different user, admin rows in benchPool when admin.
func readManifest(t *testing.T, path string, admin bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	man, err := batch.ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	defer man.Close()
	rows := 0
	users := map[string]bool{}
	for {
		row, err := man.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Err != nil {
			t.Fatalf("row %d: %v", row.N, row.Err)
		}
		if row.Admin != admin || admin && (row.UserPoolID != benchPool || users[row.Username]) {
			t.Fatalf("row %d: admin %v, pool %q, user %q (seen before: %v); want admin %v in %s, each user once",
				row.N, row.Admin, row.UserPoolID, row.Username, users[row.Username], admin, benchPool)
		}
		users[row.Username] = true
		rows++
	}
	if rows != 50 {
		t.Fatalf("read %d rows, want 50", rows)
	}
}
