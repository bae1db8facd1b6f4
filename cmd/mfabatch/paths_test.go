package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutFileModes checks what writing an output does to the file at its
// path: a new file, or one of the user's, becomes the new content with
// mode 0600; another user's file keeps its owner and mode; a device or a
// pipe is written as it is, never emptied, replaced or chmodded.
func TestOutFileModes(t *testing.T) {
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
		wantUID  int // -1: the run's user
		regular  bool
	}
	checks := []check{
		{"new file", filepath.Join(dir, "new.csv"), 0o600, -1, true},
		{"own file readable by others", write("mine.csv", 0o644), 0o600, -1, true},
	}
	// A character device like /dev/null, of our own: the test must never
	// touch the machine's /dev/null.
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err == nil {
		os.Chmod(null, 0o666)
		checks = append(checks, check{"device", null, 0o666, -1, false})
	} else {
		t.Logf("no device node (%v): the device case is left to a root test run", err)
	}
	if os.Geteuid() == 0 {
		other := write("other.csv", 0o644)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, check{"another user's file", other, 0o644, 65534, true})
	}
	for _, c := range checks {
		o, err := createOutFile(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if _, err := io.WriteString(o.w, "new report\n"); err != nil {
			t.Errorf("%s: write: %v", c.name, err)
		}
		if err := o.close(); err != nil {
			t.Errorf("%s: close: %v", c.name, err)
		}
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.wantMode {
			t.Errorf("%s: mode %#o, want %#o", c.name, got, c.wantMode)
		}
		uid, _, _ := owner(fi)
		if want := c.wantUID; want >= 0 && uid != want || want < 0 && uid != os.Geteuid() {
			t.Errorf("%s: owner %d, want %d", c.name, uid, c.wantUID)
		}
		if b, _ := os.ReadFile(c.path); c.regular && string(b) != "new report\n" {
			t.Errorf("%s: holds %q, want the new report", c.name, b)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.mfabatch-*")); len(left) > 0 {
		t.Errorf("files left beside the outputs: %v", left)
	}

	// A pipe is opened to write once a reader comes, and keeps its mode.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o644)
	done := make(chan error, 1)
	go func() {
		o, err := createOutFile(fifo)
		if err == nil {
			_, err = io.WriteString(o.w, "row\n")
			if cerr := o.close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	got, err := os.ReadFile(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || string(got) != "row\n" {
		t.Errorf("fifo: read %q (%v), want the row", got, err)
	}
	if fi, _ := os.Stat(fifo); fi.Mode().Type() != os.ModeNamedPipe || fi.Mode().Perm() != 0o644 {
		t.Errorf("fifo: mode %v, want a pipe of mode 0644", fi.Mode())
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
