package main

import (
	"fmt"
	"slices"
	"time"
)

// maxIdleCPU is the share of a core a run at the real quota may take,
// whatever the manifest's order.
const maxIdleCPU = 0.02

// idle is the tool's cost at the service's real rate: --rps 25 with 50 ms
// latency and default flags, in the manifest's order and in expiry order,
// as the share of one core the process used. Each is the median of three
// 15 s runs: on a shared virtual machine a run now and then takes twice
// the CPU for reasons of the machine's own.
func (b *bench) idle() []row {
	const rps, seconds, runs = 25, 15, 3
	var rows []row
	for _, order := range []string{"manifest", "expiry"} {
		name := fmt.Sprintf("idle: --rps %d, 50 ms latency, %d s, --order %s, median of %d, CPU share of a core", rps, seconds, order, runs)
		var shares []float64
		for range runs {
			u, _, err := b.live("idle-"+order, rps*seconds, 50*time.Millisecond, "--rps", fmt.Sprint(rps), "--order", order)
			if err != nil {
				return append(rows, errorRow(name, err))
			}
			shares = append(shares, u.cpu.Seconds()/u.wall.Seconds())
		}
		slices.Sort(shares)
		share := shares[runs/2]
		rows = append(rows, row{name, fmt.Sprintf("%.2f%% (range %.2f–%.2f%%)", 100*share, 100*shares[0], 100*shares[runs-1]),
			fmt.Sprintf("≤ %.0f%%", 100*maxIdleCPU), check(share <= maxIdleCPU)})
	}
	return rows
}
