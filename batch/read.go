package batch

import (
	"context"
	"io"
	"time"
)

// readRow is a row as read, with whom it names.
type readRow struct {
	row       Row
	err       error // the manifest cannot be read past this row
	target    target
	targetErr *RowError
}

// readRows reads the shard's rows of m in its own goroutine, so that a
// stopped run need not wait on a manifest that blocks (a pipe nobody
// closes), and reads each row's target there too; pool serves admin rows
// that name none. The goroutine ends when m does, or once the run has
// failed and m's next row comes.
func readRows(running context.Context, m Manifest, shard Shard, pool string) <-chan readRow {
	rows := make(chan readRow, rowBuffer)
	go func() {
		defer close(rows)
		for {
			row, err := m.Next()
			if err == nil && !shard.Has(row.N) {
				continue
			}
			r := readRow{row: row, err: err}
			switch {
			case err == nil && row.Admin:
				r.target, r.targetErr = adminTarget(row, pool)
			case err == nil:
				r.target, r.targetErr = tokenTarget(row)
			}
			select {
			case rows <- r:
			case <-running.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return rows
}

// stopGrace is how long a stopped run waits for the manifest's next row
// before it ends without the rest: rows already written to a pipe are
// still reported, a pipe that has gone quiet is not waited on.
const stopGrace = time.Second

// nextRow returns the next row, or io.EOF when the manifest has ended, or
// sending has ended and the manifest has gone quiet.
func nextRow(running, sending context.Context, rows <-chan readRow) (readRow, error) {
	stopped := sending.Done()
	var quiet <-chan time.Time
	for {
		if stopped != nil && sending.Err() != nil {
			t := time.NewTimer(stopGrace)
			defer t.Stop()
			stopped, quiet = nil, t.C
		}
		select {
		case r, ok := <-rows:
			if !ok {
				return readRow{}, io.EOF
			}
			return r, r.err
		case <-stopped:
		case <-quiet:
			return readRow{}, io.EOF
		case <-running.Done():
			return readRow{}, running.Err()
		}
	}
}
