//go:build unix

package main

import (
	"os"
	"syscall"
)

// owner returns the owner of fi's file, and whether it is the run's user.
func owner(fi os.FileInfo) (uid, gid int, mine bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, true
	}
	return int(st.Uid), int(st.Gid), int(st.Uid) == os.Geteuid()
}
