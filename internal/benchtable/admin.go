package main

import "fmt"

// adminMode measures admin mode as the token mode is measured: overhead,
// rate accuracy and memory, over manifests by user name whose calls are
// SigV4-signed; then the tool's CPU per row in admin mode beside token
// mode's (measured here unless the overhead measure ran first). A token
// row also decodes its JWT, and an admin row signs its call: the signing
// alone is BenchmarkSigV4 (make bench-go).
func (b *bench) adminMode() []row {
	admin := *b
	admin.admin = true
	rows := admin.overhead()
	rows = append(rows, admin.rate()...)
	rows = append(rows, admin.memory()...)
	if _, ok := b.cpuPerRow[false]; !ok {
		progress("  token-mode overhead, to compare")
		b.overhead()
	}
	tokenCPU, ok1 := b.cpuPerRow[false]
	adminCPU, ok2 := b.cpuPerRow[true]
	name := "admin − token: tool CPU per row (overhead medians; admin signs, token decodes a JWT)"
	if !ok1 || !ok2 {
		return append(rows, row{name, "not measured: an overhead run failed", "", fail})
	}
	return append(rows, row{name,
		fmt.Sprintf("%+.0f µs (admin %.0f µs, token %.0f µs)", micros(adminCPU-tokenCPU), micros(adminCPU), micros(tokenCPU)),
		"", info})
}
