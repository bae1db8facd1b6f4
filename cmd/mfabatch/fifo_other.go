//go:build !unix

package main

// readerWaits: where FIFOs are not files, there is none to wait on.
func readerWaits(string) error { return nil }
