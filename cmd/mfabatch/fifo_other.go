//go:build !unix

package main

import (
	"context"
	"io"
)

// readerWaits: where FIFOs are not files, there is none to wait on.
func readerWaits(context.Context, string, io.Writer) error { return nil }
