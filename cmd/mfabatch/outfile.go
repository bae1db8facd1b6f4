package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// outFile is a file the run writes: the report or the summary. A regular
// file is written beside its path and renamed into place by commit (the
// report's before the first call, the summary's at the end): until then
// the file it replaces, perhaps the report --resume read, stays whole. A
// device or a pipe is written as it is, neither emptied nor chmodded
// ("--report /dev/null" as root must not change /dev/null for everyone).
type outFile struct {
	w    io.Writer
	f    *os.File
	tmp  string      // the file being written, until commit renames it
	path string      // where commit puts it
	was  os.FileInfo // the regular file commit replaces, if any
}

// createOutFile opens where path's file will be written. The new file is
// mode 0600, since reports and summaries name users; one that replaces
// another user's file takes that file's owner and mode.
func createOutFile(path string) (*outFile, error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		target, err = path, nil
	}
	if err != nil {
		return nil, err
	}
	was, err := os.Stat(target)
	if err == nil && !was.Mode().IsRegular() {
		fh, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &outFile{w: fh, f: fh}, nil
	}
	if err != nil {
		was = nil
	}
	fh, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".mfabatch-*")
	if err != nil {
		// Named as the person named it, not by the file beside it.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	return &outFile{w: fh, f: fh, tmp: fh.Name(), path: target, was: was}, nil
}

func (o *outFile) Write(p []byte) (int, error) { return o.w.Write(p) }

// staged reports whether the file is written beside its path until commit.
func (o *outFile) staged() bool { return o.tmp != "" }

// commit puts the file written so far in its place, on disk first. Later
// writes go on into the same file.
func (o *outFile) commit() error {
	if o.tmp == "" {
		return nil
	}
	if o.was != nil {
		if uid, gid, mine := owner(o.was); !mine {
			if err := o.f.Chown(uid, gid); err != nil {
				return err
			}
			if err := o.f.Chmod(o.was.Mode().Perm()); err != nil {
				return err
			}
		}
	}
	if err := o.f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		return err
	}
	o.tmp = ""
	return nil
}

// abandon removes a file that was never committed, leaving the file in
// its place as it was.
func (o *outFile) abandon() {
	o.f.Close()
	if o.tmp != "" {
		os.Remove(o.tmp)
		o.tmp = ""
	}
}

// close commits the file if it is not yet, and closes it.
func (o *outFile) close() error {
	err := o.commit()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}
