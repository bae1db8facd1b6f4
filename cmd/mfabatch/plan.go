package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// beforeFirstCall prints the plan, writes the rows --resume finds done to
// the report, and puts the report in its place. It returns how many rows
// the run will report, as the plan counted them; 0 when there is no plan.
// After a signal there is no plan: the run reports every row not_attempted.
func beforeFirstCall(ctx context.Context, cfg *batch.Config, src *source, format string, m batch.Manifest, w batch.Sink, outs *outputs, empty bool, stderr io.Writer) (int, error) {
	reported := &carried{}
	var err error
	if !empty && ctx.Err() == nil {
		if reported, err = plan(ctx, *cfg, src, format, m, w, stderr); err != nil {
			return 0, err
		}
	}
	// A device or pipe hears of the report at the first flush unless rows
	// are carried: one that cannot be written then fails after calls
	// (exit 4), as any later write does.
	if outs.renamed() || reported.any() {
		if err := w.Flush(); err != nil {
			return 0, fmt.Errorf("cannot write the report: %w", err)
		}
	}
	if err := outs.commit(); err != nil {
		return 0, err
	}
	cfg.Reported = reported.has
	return reported.total, nil
}

// plan says, before anything is sent, how many rows a live run will send,
// how long that takes at --rps, and how many tokens will expire before
// their turn: a dry run of the same rows. It writes the rows an earlier
// run finished (--resume) to the report, and returns them with the count
// of rows. A manifest that can be read only once is not planned.
func plan(ctx context.Context, cfg batch.Config, src *source, format string, m batch.Manifest, w batch.Sink, stderr io.Writer) (*carried, error) {
	var pm batch.Manifest
	if rows, ok := m.(*batch.Rows); ok {
		pm = rows.Again()
	} else if again, ok := src.again(); ok {
		var err error
		if pm, _, err = readManifest(again, src, format); err != nil {
			return nil, err
		}
		if c, ok := pm.(io.Closer); ok {
			defer c.Close()
		}
	} else {
		fmt.Fprintln(stderr, "mfabatch: note: the manifest comes from a pipe and is read once, so there is no plan before sending")
		return &carried{}, nil
	}
	cfg.DryRun, cfg.Log, cfg.OnResult, cfg.Reported = true, nil, nil, nil
	if cfg.Plan {
		cfg.RPS = cfg.ReadRPS // the estimate is of reads
	}
	c := &carried{w: w}
	sum, err := (&batch.Runner{Config: cfg}).Run(ctx, pm, c)
	switch {
	case sum != nil && sum.Interrupted:
		// The run goes on, to report every row not sent.
		return c, nil
	case err != nil:
		return nil, err
	}
	fmt.Fprintln(stderr, report.PlanLine(sum))
	c.total = sum.Rows
	return c, nil
}

// carried is the plan's sink: it writes the rows an earlier run finished
// to the report, and remembers them, a bit a row, so the run does not
// write them again.
type carried struct {
	w     batch.Sink
	rows  []uint64
	total int // rows the plan saw, all of which the run reports; 0 when unknown
}

func (c *carried) Write(r batch.Result) error {
	if r.ErrorCode != batch.CodeAlreadySucceeded || r.Row < 1 {
		return nil
	}
	for len(c.rows) <= r.Row/64 {
		c.rows = append(c.rows, 0)
	}
	c.rows[r.Row/64] |= 1 << (r.Row % 64)
	return c.w.Write(r)
}

func (c *carried) Flush() error { return nil }

func (c *carried) any() bool { return len(c.rows) > 0 }

func (c *carried) has(row int) bool {
	return row >= 1 && row/64 < len(c.rows) && c.rows[row/64]&(1<<(row%64)) != 0
}
