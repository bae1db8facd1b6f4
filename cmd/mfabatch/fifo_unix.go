//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// fifoPoll is how often a FIFO is tried for a reader.
const fifoPoll = 50 * time.Millisecond

// readerWaits waits until a process reads the FIFO at path, if path is
// one: opening it to write would wait as long, silently, and past a
// signal. It says on stderr that it waits, and gives up when ctx ends.
func readerWaits(ctx context.Context, path string, stderr io.Writer) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return nil
	}
	for told := false; ; told = true {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			syscall.Close(fd)
			return nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil // not for want of a reader: the open says what
		}
		if !told {
			fmt.Fprintf(stderr, "mfabatch: --output %s is a FIFO that no process reads yet: waiting for one\n", path)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("--output %s: no process read the FIFO: %w", path, context.Cause(ctx))
		case <-time.After(fifoPoll):
		}
	}
}
