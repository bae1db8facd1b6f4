package main

// Where an export writes: standard output, a file, or an S3 object; and,
// for a file, the checkpoint beside it that --resume goes on from.
//
// A new file is written beside its path and renamed into place once the
// export has written a row (or listed every user): an export that fails
// before leaves the file that was there as it was. The checkpoint
// (PATH.checkpoint) is written after each page's rows are flushed, and
// removed when the export is complete. A resumed export appends to the
// file in place, after its last whole line.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mfabatch/mfabatch/batch"
)

// checkpoint is where an export to a file stands: the token of the page
// after the last one whose rows are in the file whole, and how much of
// the file those rows are.
type checkpoint struct {
	Version  int    `json:"version"`
	Pool     string `json:"user_pool_id"`
	Filter   string `json:"filter,omitempty"`
	Group    string `json:"group,omitempty"`
	NoState  bool   `json:"no_state,omitempty"`
	Format   string `json:"format"`
	Next     string `json:"next_page,omitempty"` // "" for the first page, or none when complete
	Rows     int    `json:"rows"`
	Size     int64  `json:"bytes"`
	Complete bool   `json:"complete,omitempty"`
}

const checkpointVersion = 1

// checkpointPath is where the checkpoint of an export to path is kept.
func checkpointPath(path string) string { return path + ".checkpoint" }

// newCheckpoint is the checkpoint of an export with f's flags, at its start.
func newCheckpoint(f *exportFlags) checkpoint {
	return checkpoint{Version: checkpointVersion, Pool: f.pool, Filter: f.filter, Group: f.group, NoState: f.noState, Format: f.format}
}

// readCheckpoint reads the checkpoint at path.
func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Version != checkpointVersion {
		return nil, errors.New("not a checkpoint of this version of mfabatch export")
	}
	return &c, nil
}

// save writes c to path whole: a new file renamed over the old one, so
// that a kill leaves one or the other.
func (c checkpoint) save(path string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	fh, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".mfabatch-*")
	if err != nil {
		return err
	}
	_, err = fh.Write(append(b, '\n'))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(fh.Name(), path)
	}
	if err != nil {
		os.Remove(fh.Name())
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// differs says how an export with f's flags differs from c's; "" when
// it is the same export.
func (c checkpoint) differs(f *exportFlags) string {
	want := newCheckpoint(f)
	switch {
	case c.Pool != want.Pool:
		return "of pool " + c.Pool
	case c.Filter != want.Filter:
		return fmt.Sprintf("with --filter %q", c.Filter)
	case c.Group != want.Group:
		return fmt.Sprintf("with --group %q", c.Group)
	case c.NoState != want.NoState:
		return fmt.Sprintf("with --no-state=%v", c.NoState)
	case c.Format != want.Format:
		return "in format " + c.Format
	}
	return ""
}

// exportOutput is where an export's rows go.
type exportOutput struct {
	f     *exportFlags
	count countWriter // the bytes written to the output
	dest  dest        // nil for standard output
	file  *os.File    // a resumed file, written in place; nil otherwise

	resumable bool // a local regular file: it keeps a checkpoint
	relist    bool // resumed from the first page: the file has fewer rows than its checkpoint
	committed bool // the output is in its place
	mark      checkpoint
	written   *batch.Written // what a resumed file held; nil for a new output
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newOutput opens a new output: standard output, a file beside its path
// until commit, a device or a pipe as it is, or an S3 object written at
// the end.
func newOutput(ctx context.Context, st *storage, f *exportFlags, stdout, stderr io.Writer) (*exportOutput, error) {
	o := &exportOutput{f: f, count: countWriter{w: stdout}, mark: newCheckpoint(f)}
	if f.output == "-" {
		return o, nil
	}
	if err := readerWaits(ctx, f.output, stderr); err != nil {
		return nil, err
	}
	d, err := createOutput(ctx, st, f.output, false)
	if err != nil {
		return nil, explained("cannot create the output: ", err, "give --output a file in a folder that exists and that you can write")
	}
	o.dest, o.count.w = d, d
	o.resumable = !isS3(f.output) && d.staged()
	return o, nil
}

// writer is the manifest writer of the output's rows.
func (o *exportOutput) writer() (*batch.ManifestWriter, error) {
	if o.written != nil && o.count.n > 0 {
		return batch.ContinueManifest(&o.count, o.f.format, true)
	}
	return batch.NewManifestWriter(&o.count, o.f.format, true)
}

// page notes a page's rows flushed: it puts the output in place at the
// first, and keeps the checkpoint.
func (o *exportOutput) page(p batch.Page) error {
	o.mark.Next, o.mark.Complete = p.Next, p.Last
	o.mark.Rows, o.mark.Size = p.Users, o.count.n
	if o.written != nil {
		o.mark.Rows += o.written.Rows
	}
	return o.commit()
}

// commit puts a new output in its place, with its checkpoint, and keeps
// the checkpoint of one in place. A checkpoint of an earlier export to
// the same file goes first: it does not describe the new file.
func (o *exportOutput) commit() error {
	if !o.committed && o.dest != nil {
		if o.resumable {
			if err := os.Remove(checkpointPath(o.f.output)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := o.dest.commit(); err != nil {
			return err
		}
	}
	o.committed = true
	if !o.resumable {
		return nil
	}
	return o.mark.save(checkpointPath(o.f.output))
}

// finish ends the output of an export that wrote users (or listed every
// user): the output is put in place and closed, and a complete export's
// checkpoint removed. An export that wrote nothing leaves the path as it
// was.
func (o *exportOutput) finish(sum *batch.ExportSummary) error {
	if !o.committed && (sum == nil || sum.Users == 0) {
		o.abandon()
		return nil
	}
	err := o.commit()
	switch {
	case o.file != nil:
		err = errors.Join(err, o.file.Close())
	case o.dest != nil:
		err = errors.Join(err, o.dest.close())
	}
	if err == nil && o.resumable && o.mark.Complete {
		err = os.Remove(checkpointPath(o.f.output))
	}
	return err
}

// abandon leaves the path as it was.
func (o *exportOutput) abandon() {
	switch {
	case o.file != nil:
		o.file.Close()
	case o.dest != nil:
		o.dest.abandon()
	}
}

// rows is how many rows the output holds.
func (o *exportOutput) rows(sum *batch.ExportSummary) int {
	n := 0
	if sum != nil {
		n = sum.Users
	}
	if o.written != nil {
		n += o.written.Rows
	}
	return n
}
