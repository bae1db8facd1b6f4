//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// readerWaits refuses a FIFO that no process reads: opening it to write
// would wait for a reader for ever.
func readerWaits(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return nil
	}
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENXIO) {
		return usageError{"--output " + path + " is a FIFO that no process reads: nothing would take the rows",
			"start its reader first, e.g. gzip < " + path + " > users.csv.gz &"}
	}
	if err == nil {
		syscall.Close(fd)
	}
	return nil // any other fault is the open's to tell
}
