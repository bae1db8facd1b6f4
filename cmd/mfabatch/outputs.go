package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// outputs are where a run writes: the report and the summary. Both are
// opened before the first call, so that a path that cannot be written
// stops the run before anything is sent.
type outputs struct {
	report  io.Writer
	file    dest // the report's file; nil for standard output
	summary dest // nil without --summary
}

// openOutputs opens the report and the summary; each regular file is
// written beside its path until commit.
func openOutputs(ctx context.Context, st *storage, f *runFlags, stdout io.Writer) (*outputs, error) {
	o := &outputs{report: stdout}
	if f.reportPath != "-" {
		rf, err := createOutput(ctx, st, f.reportPath, true)
		if err != nil {
			return nil, fmt.Errorf("cannot create the report: %w", err)
		}
		o.report, o.file = rf, rf
	}
	if f.summaryPath != "" {
		fh, err := createOutput(ctx, st, f.summaryPath, false)
		if err != nil {
			o.discard()
			hint := "give --summary a file in a folder that exists and that you can write"
			var ue usageError
			switch {
			case errors.As(err, &ue):
				hint = ue.hint
			case isS3(f.summaryPath):
				hint = "give --summary an S3 path the run can write: it needs s3:PutObject and s3:DeleteObject there"
			}
			return nil, usageError{"cannot create the summary: " + err.Error(), hint}
		}
		o.summary = fh
	}
	return o, nil
}

// renamed reports whether the report is written beside its path, to be
// renamed into place by commit.
func (o *outputs) renamed() bool { return o.file != nil && o.file.staged() }

// commit puts the report in its place, before the first call.
func (o *outputs) commit() error {
	if o.file == nil {
		return nil
	}
	if err := o.file.commit(); err != nil {
		return fmt.Errorf("cannot put the report in place: %w", err)
	}
	return nil
}

// discard closes the outputs of a run that ends before its first call,
// leaving their paths as they were.
func (o *outputs) discard() {
	if o.file != nil {
		o.file.abandon()
	}
	if o.summary != nil {
		o.summary.abandon()
	}
}

// finish closes the report and writes the summary.
func (o *outputs) finish(sum *batch.Summary) error {
	var err error
	if o.file != nil {
		if cerr := o.file.close(); cerr != nil {
			err = writeError{what: "report", err: cerr, unrecorded: -1}
		}
	}
	if o.summary != nil {
		serr := report.WriteSummaryJSON(o.summary, sum)
		if cerr := o.summary.close(); serr == nil {
			serr = cerr
		}
		if serr != nil && err == nil {
			err = writeError{what: "summary", err: serr}
		}
	}
	return err
}

// writeError is a report or summary that could not be written once the
// run had begun.
type writeError struct {
	what       string // "report" or "summary"
	err        error
	unrecorded int // rows that made calls and are not in the report; -1: unknown
}

func (e writeError) Error() string { return e.what + ": " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

// reportError is the writeError of a report the engine could not write.
func reportError(err error) error {
	var se *batch.SinkError
	if errors.As(err, &se) {
		return writeError{what: "report", err: se.Err, unrecorded: se.Unrecorded}
	}
	return err
}

// afterCalls is the error as a person reads it once calls were made: it
// says which rows were sent without a record.
func (e writeError) afterCalls() usageError {
	hint := "those users' settings were changed but are not recorded; a --resume from this report sends their rows again, which sets the same settings again"
	var lost string
	switch {
	case e.what == "summary":
		lost, hint = "the report holds every row", ""
	case e.unrecorded < 0:
		lost = "rows sent may be missing from the report"
	case e.unrecorded == 0:
		lost, hint = "no row was sent without a record", ""
	case e.unrecorded == 1:
		lost = "1 row was sent without a record"
	default:
		lost = fmt.Sprintf("%d rows were sent without a record", e.unrecorded)
	}
	return usageError{e.Error() + "; " + lost, hint}
}
