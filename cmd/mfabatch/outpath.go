package main

// Opening a command's paths by name, local or s3://bucket/key.

import (
	"context"
	"fmt"
	"io"
	"os"
)

// dest is a file or object a command writes (see outFile, s3Out).
type dest interface {
	io.Writer
	// staged reports whether what is written waits for commit to be seen
	// at the path.
	staged() bool
	// commit makes what is written so far seen at the path; later writes
	// go on.
	commit() error
	// abandon leaves the path as it was, if commit has not been called.
	abandon()
	// close commits, and finishes the output.
	close() error
}

// createOutput opens path, local or s3://, to write. checkpointed asks an
// S3 object for its rows to be kept as they come, in parts (the report);
// without it the object is written at close.
func createOutput(ctx context.Context, st *storage, path string, checkpointed bool) (dest, error) {
	if !isS3(path) {
		return createOutFile(path)
	}
	store, p, err := st.open(ctx, path, "")
	if err != nil {
		return nil, err
	}
	return store.createS3(p, checkpointed)
}

// openReport opens an earlier report, local or s3:// (see s3Store.openReport).
func openReport(ctx context.Context, st *storage, path string) (io.ReadCloser, error) {
	if !isS3(path) {
		return os.Open(path)
	}
	store, p, err := st.open(ctx, path, "")
	if err != nil {
		return nil, err
	}
	r, err := store.openReport(ctx, p)
	if notFound(err) {
		return nil, fmt.Errorf("%s: no such report, nor checkpoint parts of one", p)
	}
	return r, err
}
