package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mfabatch/mfabatch/batch"
)

// source is the manifest as opened. A regular file can be read again from
// its start through file, while the first reading goes on; a pipe is read
// once, unless the run must read it twice (--resume, --order expiry):
// then it is first copied to a temporary file that is unlinked at once, so
// the tokens in it vanish with the process, even after kill -9.
type source struct {
	r     io.Reader
	name  string   // the path as given; "-" for standard input
	pipe  bool     // not a regular file: a pipe, a FIFO or a device
	file  *os.File // nil when the manifest can be read only once
	base  int64    // where the manifest starts in file
	size  int64
	close func()
	// reopen reads the manifest anew from its start, where it is read
	// again from its origin rather than from file (an S3 object).
	reopen func() io.Reader
	// readable is the file's permissions when other users can read it.
	readable os.FileMode
}

// warnReadable warns when other users can read a manifest that holds
// access tokens: one whose first row names its user by token. An admin
// manifest holds usernames, no secret.
func warnReadable(stderr io.Writer, src *source, format string) {
	if src.readable == 0 || firstRowAdmin(src, format) {
		return
	}
	fmt.Fprintf(stderr, "mfabatch: warning: %s can be read by other users (mode %04o), and it holds access tokens\nmfabatch: hint: chmod 600 %s\n", src.name, src.readable, src.name)
}

// firstRowAdmin reads the manifest's first row again, from the start of
// its file, and reports whether it names its user by username.
func firstRowAdmin(src *source, format string) bool {
	again, ok := src.again()
	if !ok {
		return false
	}
	m, _, err := readManifest(again, src, format)
	if err != nil {
		return false
	}
	if c, ok := m.(io.Closer); ok {
		defer c.Close()
	}
	row, err := m.Next()
	return err == nil && row.Admin
}

// again returns a reader of the whole manifest from its start, or false
// when it can be read only once.
func (s *source) again() (io.Reader, bool) {
	if s.reopen != nil {
		return s.reopen(), true
	}
	if s.file == nil {
		return nil, false
	}
	return io.NewSectionReader(s.file, s.base, s.size-s.base), true
}

// openManifest opens path, an S3 object, or standard input for "-", and
// spools a pipe when twice is true.
func openManifest(ctx context.Context, st *storage, path string, stdin io.Reader, twice bool) (*source, error) {
	if isS3(path) {
		return openS3Manifest(ctx, st, path, twice)
	}
	src := &source{r: stdin, name: path, close: func() {}}
	var fh *os.File
	if path == "-" {
		fh, _ = stdin.(*os.File)
	} else {
		var err error
		if fh, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("cannot read the manifest: %w", err)
		}
		src.r, src.close = fh, func() { fh.Close() }
	}
	if fh != nil {
		st, err := fh.Stat()
		switch {
		case err != nil:
			src.close()
			return nil, fmt.Errorf("cannot read the manifest: %w", err)
		case st.IsDir():
			src.close()
			return nil, fmt.Errorf("cannot read the manifest: %s is a directory", path)
		case st.Mode().IsRegular():
			if path != "-" && st.Mode().Perm()&0o077 != 0 {
				src.readable = st.Mode().Perm()
			}
			// Standard input from a file may start past its beginning.
			if src.base, err = fh.Seek(0, io.SeekCurrent); err == nil {
				src.file, src.size = fh, st.Size()
				return src, nil
			}
		}
	}
	src.pipe = true
	if !twice {
		return src, nil
	}
	spool, size, err := spoolPipe(ctx, src.r)
	src.close()
	if err != nil {
		return nil, err
	}
	src.r, src.file, src.size = spool, spool, size
	src.close = func() { spool.Close() }
	return src, nil
}

// spoolPipe copies r to an unlinked temporary file and returns it at its
// start. A signal while the pipe is still open ends the wait.
func spoolPipe(ctx context.Context, r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "mfabatch-manifest-*")
	if err != nil {
		return nil, 0, spoolError(err)
	}
	os.Remove(f.Name())
	type copied struct {
		n   int64
		err error
	}
	done := make(chan copied, 1)
	go func() {
		n, err := io.Copy(f, r)
		done <- copied{n, err}
	}()
	var c copied
	select {
	case c = <-done:
	case <-ctx.Done():
		// The copy may be blocked on the pipe: it ends with the process.
		return nil, 0, context.Cause(ctx)
	}
	if c.err == nil {
		_, c.err = f.Seek(0, io.SeekStart)
	}
	if c.err != nil {
		f.Close()
		return nil, 0, spoolError(c.err)
	}
	return f, c.n, nil
}

// spoolError says why a pipe could not be copied for a second reading.
func spoolError(err error) error {
	return usageError{fmt.Sprintf("cannot keep a copy of the piped manifest to read it twice: %v", err),
		"free space in the temporary folder (or set TMPDIR), or give the manifest as a file"}
}

// noRows is a manifest with no rows.
type noRows struct{}

func (noRows) Next() (batch.Row, error) { return batch.Row{}, io.EOF }

// readManifest reads in as format, or when format is "" as the manifest's
// name says, or for a pipe without a known extension as its first
// non-blank byte says, and checks its header. It returns the format used.
func readManifest(in io.Reader, src *source, format string) (batch.Manifest, string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(src.name)) {
		case ".csv":
			format = "csv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			if !src.pipe && src.name != "-" {
				return nil, "", usageError{fmt.Sprintf("cannot tell the format of %s from its name", src.name), "name it .csv or .jsonl, or pass --format csv|jsonl"}
			}
		}
	}
	if format == "" {
		br := bufio.NewReader(in)
		in = br
		format = "csv"
		if sniffJSON(br) {
			format = "jsonl"
		}
	}
	if format == "jsonl" {
		return batch.ReadJSONL(in), format, nil
	}
	m, err := batch.ReadCSV(in)
	var he *batch.HeaderError
	switch {
	case errors.As(err, &he) && he.Hint != "":
		return nil, "", usageError{err.Error(), he.Hint}
	case errors.As(err, &he):
		return nil, "", usageError{err.Error(), "a CSV manifest's first line names its columns, e.g.: " + strings.Join(batch.Columns, ",")}
	case err != nil:
		return nil, "", err
	}
	return m, format, nil
}

// sniffJSON reports whether the first non-blank byte, after any byte-order
// mark, is '{'.
func sniffJSON(br *bufio.Reader) bool {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return false
		}
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
			return t[0] == '{'
		}
		if err != nil {
			return false
		}
	}
	return false
}
