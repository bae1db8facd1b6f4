package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// reportFile is where the report goes. A regular file is written beside
// its path and renamed into place by commit, before the first call: until
// then the file it replaces, perhaps the report --resume read, stays
// whole, and from then on it holds every earlier success.
type reportFile struct {
	w    io.Writer
	f    *os.File
	tmp  string // the file being written, until commit renames it
	path string // where commit puts it
}

// createReportFile opens the file the report goes to: a new file that only
// its owner can read, beside path, or a device or pipe as it is (neither
// emptied nor chmodded: "--report /dev/null" as root must not change
// /dev/null for everyone).
func createReportFile(path string) (*reportFile, error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		target, err = path, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create the report: %w", err)
	}
	if st, err := os.Stat(target); err == nil && !st.Mode().IsRegular() {
		// A device or a pipe is written in place, as it is.
		fh, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot create the report: %w", err)
		}
		return &reportFile{w: fh, f: fh}, nil
	}
	fh, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".mfabatch-*")
	if err != nil {
		return nil, fmt.Errorf("cannot create the report beside %s: %w", path, err)
	}
	return &reportFile{w: fh, f: fh, tmp: fh.Name(), path: target}, nil
}

// commit puts the file written so far in the report's place, on disk
// first. Later rows go on into the same file.
func (r *reportFile) commit() error {
	if r.tmp == "" {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(r.tmp, r.path); err != nil {
		return err
	}
	r.tmp = ""
	return nil
}

// abandon removes a report that was never committed, leaving the file in
// its place as it was.
func (r *reportFile) abandon() {
	if r.tmp != "" {
		r.f.Close()
		os.Remove(r.tmp)
		r.tmp = ""
	}
}

// close commits the report if it is not yet, and closes it.
func (r *reportFile) close() error {
	err := r.commit()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}
