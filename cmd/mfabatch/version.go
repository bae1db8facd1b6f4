package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time by the Makefile (-ldflags -X main.version=...).
var version = ""

func versionCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"version takes no arguments", ""}
	}
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	_, err := fmt.Fprintf(stdout, "mfabatch %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
