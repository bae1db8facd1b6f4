//go:build !unix

package main

import "os"

// ownedByMe reports whether the run's user owns fi's file: where files
// have no owner uid, every file the run can open.
func ownedByMe(os.FileInfo) bool { return true }
