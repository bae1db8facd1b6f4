package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenOutputModes checks which outputs are made 0600: the files the
// run creates, and its user's regular files; never a device, a pipe or
// another user's file, which are not emptied either.
func TestOpenOutputModes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("old report\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type check struct {
		name     string
		path     string
		wantMode os.FileMode
		wantSize int64 // after truncate: -1 for a file that is not regular
	}
	checks := []check{
		{"new file", filepath.Join(dir, "new.csv"), 0o600, 0},
		{"own file readable by others", write("mine.csv", 0o644), 0o600, 0},
	}
	// A character device like /dev/null, of our own: the test must never
	// chmod the machine's /dev/null.
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err == nil {
		os.Chmod(null, 0o666)
		checks = append(checks, check{"device", null, 0o666, -1})
	} else {
		t.Logf("no device node (%v): the device case is left to a root test run", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o644)
	if os.Geteuid() == 0 {
		other := write("other.csv", 0o644)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, check{"another user's file", other, 0o644, 0})
	}
	for _, c := range checks {
		o, err := openOutput(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err := o.truncate(); err != nil {
			t.Errorf("%s: truncate: %v", c.name, err)
		}
		o.Close()
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.wantMode {
			t.Errorf("%s: mode %#o, want %#o", c.name, got, c.wantMode)
		}
		if c.wantSize >= 0 && fi.Size() != c.wantSize {
			t.Errorf("%s: %d bytes after truncate, want %d", c.name, fi.Size(), c.wantSize)
		}
	}

	// A pipe is opened to write once a reader comes, and keeps its mode.
	done := make(chan error, 1)
	go func() {
		o, err := openOutput(fifo)
		if err == nil {
			err = o.truncate()
			o.Close()
		}
		done <- err
	}()
	r, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := <-done; err != nil {
		t.Errorf("fifo: %v", err)
	}
	if fi, _ := os.Stat(fifo); fi.Mode().Perm() != 0o644 {
		t.Errorf("fifo: mode %#o, want 0644", fi.Mode().Perm())
	}
}

func mkdev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor)
}

// TestCheckPathsLinks checks that a hard link is seen through, and that
// --resume and --report may share a file by any name.
func TestCheckPathsLinks(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, name := range []string{"m.csv", "r.csv"} {
		if err := os.WriteFile(name, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link("m.csv", "m-hard.csv"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link("r.csv", "r-hard.csv"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		report, resume, summary string
		want                    string // the error, or "" for none
	}{
		{"m-hard.csv", "", "", "--report m-hard.csv is the manifest itself"},
		{"r.csv", "", "m-hard.csv", "--summary m-hard.csv is the manifest itself"},
		{"r.csv", "", "r-hard.csv", "--summary r-hard.csv is the report itself (--report r.csv)"},
		{"r.csv", "r-hard.csv", "", ""},
		{"r.csv", "r-hard.csv", "s.json", ""},
		{"new.csv", "r.csv", "./new.csv", "--summary ./new.csv is the report itself (--report new.csv)"},
		{"-", "", "r.csv", ""},
	} {
		f := &runFlags{reportPath: c.report, resume: c.resume, summaryPath: c.summary}
		err := checkPaths(f, "m.csv", strings.NewReader(""), &strings.Builder{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("--report %s --resume %q --summary %q: error %q, want %q", c.report, c.resume, c.summary, got, c.want)
		}
	}
}
