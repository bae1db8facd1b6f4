package main

// export --resume: going on with an export to a file that stopped.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mfabatch/mfabatch/batch"
)

// errComplete is a resume of an export that is complete.
var errComplete = errors.New("the export is complete")

// resumeOutput opens the file of an export that stopped, after its last
// whole line (a line cut short by a kill or a full disk is cut off), and
// says where listing goes on: its checkpoint's page, with the users the
// file holds left out.
func resumeOutput(f *exportFlags) (*exportOutput, error) {
	hint := "export again without --resume"
	path := checkpointPath(f.output)
	ck, err := readCheckpoint(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usageError{fmt.Sprintf("--resume: no checkpoint %s: the export to %s finished, or stopped before its first row", path, f.output), hint}
	case err != nil:
		return nil, usageError{fmt.Sprintf("--resume: %s: %v", path, err), hint}
	}
	if diff := ck.differs(f); diff != "" {
		return nil, usageError{fmt.Sprintf("--resume: the export to %s was %s", f.output, diff),
			"give the flags of the export that stopped: the same --user-pool-id, --filter, --group, --no-state and --format"}
	}
	o := &exportOutput{f: f, mark: *ck, resumable: true, committed: true}
	if ck.Complete {
		return o, errComplete
	}
	fh, err := openResumed(f.output)
	if err != nil {
		return nil, usageError{"--resume: " + err.Error(), hint}
	}
	written, err := batch.ReadWritten(fh, ck.Format)
	if err == nil && (written.Size < ck.Size || written.Rows < ck.Rows) {
		// Rows the checkpoint counted are gone: its page is no place to
		// go on from, but the start is.
		o.mark.Next, o.relist = "", true
	}
	if err == nil {
		err = cutAfter(fh, written.Size)
	}
	if err != nil {
		fh.Close()
		return nil, usageError{fmt.Sprintf("--resume: %s: %v", f.output, err), hint}
	}
	o.file, o.written, o.count = fh, written, countWriter{w: fh, n: written.Size}
	return o, nil
}

// openResumed opens the file of an export that stopped, to read and
// append: a regular file only.
func openResumed(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// cutAfter cuts fh's file to size bytes, its whole lines, and puts the
// next write there.
func cutAfter(fh *os.File, size int64) error {
	if err := fh.Truncate(size); err != nil {
		return err
	}
	_, err := fh.Seek(size, io.SeekStart)
	return err
}
