package main

import (
	"fmt"
	"time"
)

// maxIdleCPU is the share of a core a run at the real quota may take,
// whatever the manifest's order (issue 9).
const maxIdleCPU = 0.02

// idle is the tool's cost at the service's real rate: 20 s at --rps 25
// with 50 ms latency and default flags, in the manifest's order and in
// expiry order, as the share of one core the process used.
func (b *bench) idle() []row {
	const rps, seconds = 25, 20
	var rows []row
	for _, order := range []string{"manifest", "expiry"} {
		name := fmt.Sprintf("idle: --rps %d, 50 ms latency, %d s, --order %s, CPU share of a core", rps, seconds, order)
		u, _, err := b.live("idle-"+order, rps*seconds, 50*time.Millisecond, "--rps", fmt.Sprint(rps), "--order", order)
		if err != nil {
			rows = append(rows, errorRow(name, err))
			continue
		}
		share := u.cpu.Seconds() / u.wall.Seconds()
		rows = append(rows, row{name, fmt.Sprintf("%.2f%% (%.0f ms CPU over %.1f s)", 100*share, float64(u.cpu.Milliseconds()), u.wall.Seconds()),
			fmt.Sprintf("≤ %.0f%%", 100*maxIdleCPU), check(share <= maxIdleCPU)})
	}
	return rows
}
