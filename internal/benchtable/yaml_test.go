package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// The YAML stream holds the CSV manifest's rows, one a document.
func TestYAMLManifestReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.yaml")
	m := newTokenMaker(time.Now().Add(time.Hour))
	if err := writeYAMLManifest(path, 50, m); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	man := batch.ReadYAML(f)
	rows := 0
	for {
		row, err := man.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Err != nil || string(row.Token) != m.token(rows) || row.Settings.SoftwareToken.Preferred != batch.True {
			t.Fatalf("row %d: %v, settings %+v", row.N, row.Err, row.Settings)
		}
		rows++
	}
	if rows != 50 {
		t.Fatalf("read %d rows, want 50", rows)
	}
}
