package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// Targets: what the tool promises of its speed, memory and start-up. The
// service allows about 25 calls a second, so plain code is worth more than
// speed past these.
const (
	minRowsPerSec       = 4_000
	maxCPUPerRow        = 250 * time.Microsecond
	minRateRatio        = 0.97
	maxRSS              = 64 << 20
	minDryRunRowsPerSec = 100_000
	maxStartupWall      = 25 * time.Millisecond
)

// overhead is the tool's own cost: a live run at no latency and no rate
// limit, so the tool, not the network or the quota, is the bottleneck.
// It is the median of three runs: the machine is shared, and another
// process's work only ever adds to a run's time and CPU.
func (b *bench) overhead() []row {
	const n = 50_000
	const runs = 3
	name := b.mode("overhead: 50,000 rows, --rps 0, --workers 32, median of 3")
	var rates []float64
	var cpus []time.Duration
	for range runs {
		u, _, err := b.live("overhead", n, 0, "--rps", "0", "--workers", "32")
		if err != nil {
			return []row{errorRow(name, err)}
		}
		rates = append(rates, float64(n)/u.wall.Seconds())
		cpus = append(cpus, u.cpu/n)
	}
	slices.Sort(rates)
	slices.Sort(cpus)
	rps, cpu := rates[runs/2], cpus[runs/2]
	b.cpuPerRow[b.admin] = cpu
	return []row{
		{name + ", rows/s end to end", fmt.Sprintf("%s rows/s (range %s–%s)", commas(int(rps)), commas(int(rates[0])), commas(int(rates[runs-1]))),
			"≥ " + commas(minRowsPerSec), check(rps >= minRowsPerSec)},
		{name + ", tool CPU per row", fmt.Sprintf("%.0f µs (range %.0f–%.0f)", micros(cpu), micros(cpus[0]), micros(cpus[runs-1])),
			fmt.Sprintf("≤ %.0f µs", micros(maxCPUPerRow)), check(cpu <= maxCPUPerRow)},
	}
}

// live writes an n-row manifest, runs the tool over it against a fake
// Cognito that answers after delay, and checks that every row reached the
// server exactly once.
func (b *bench) live(name string, n int, delay time.Duration, flags ...string) (usage, stats, error) {
	return b.liveLogging("", name, n, delay, flags...)
}

// liveLogging is live with the tool's log written to logPath, unless it
// is "".
func (b *bench) liveLogging(logPath, name string, n int, delay time.Duration, flags ...string) (usage, stats, error) {
	path, err := b.manifest(name, n)
	if err != nil {
		return usage{}, stats{}, err
	}
	defer b.remove(path, reportPath(path))
	srv, err := startFake(delay)
	if err != nil {
		return usage{}, stats{}, err
	}
	defer srv.stop()
	u, err := b.runToolLogging(logPath, srv.URL, path, flags...)
	if err != nil {
		return u, stats{}, err
	}
	st, err := srv.stop()
	if err == nil && st.Calls != n {
		err = fmt.Errorf("the server got %d calls for %d rows", st.Calls, n)
	}
	return u, st, err
}

// rate checks that --rps is reached, not exceeded, at a realistic
// latency, with the default worker count (auto).
func (b *bench) rate() []row {
	var rows []row
	for _, rps := range []int{25, 100, 500} {
		rows = append(rows, b.rateAt(rps)...)
	}
	return rows
}

func (b *bench) rateAt(rps int) []row {
	name := b.mode(fmt.Sprintf("rate: --rps %d, 50 ms latency, %d s", rps, pacedSeconds))
	return b.paced(name, fmt.Sprintf("rate%d", rps), "--rps", rps)
}

// pacedSeconds is how long a paced run lasts.
const pacedSeconds = 10

// paced runs rows for pacedSeconds at a rate of rps set by rateFlag
// (--rps, or --read-rps for a run that only reads), burst 1, with 50 ms
// latency, and checks the rate the server saw: reached, and not exceeded
// in any second.
func (b *bench) paced(name, file, rateFlag string, rps int, flags ...string) []row {
	const burst = 1
	const latency = 50 * time.Millisecond
	n := rps*pacedSeconds + burst
	// The tool's debug log times every call, so the busiest second can be
	// counted where calls leave the tool as well as where they arrive.
	logPath := filepath.Join(b.dir, file+".log")
	defer b.remove(logPath)
	_, st, err := b.liveLogging(logPath, file, n, latency, append(flags, rateFlag, strconv.Itoa(rps),
		"--burst", strconv.Itoa(burst), "--log-level", "debug", "--log-format", "json")...)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	sent, err := dispatchTimes(logPath, "")
	if err == nil && len(sent) != n {
		err = fmt.Errorf("the log has %d calls for %d rows", len(sent), n)
	}
	if err != nil {
		return []row{errorRow(name, err)}
	}
	achieved := callStats{Calls: st.Calls, Span: st.Span}.rate(burst)
	ratio := achieved / float64(rps)
	window := st.MaxIn1s
	// The first second's count shows a slow start that the whole run's
	// ratio would average away.
	return []row{
		{name + ", achieved / " + rateFlag, fmt.Sprintf("%.3f (%.2f/s over %.2f s; first second %d)", ratio, achieved, st.Span.Seconds(), st.FirstSecond),
			fmt.Sprintf("≥ %.2f", minRateRatio), check(ratio >= minRateRatio)},
		{name + ", busiest 1 s window", fmt.Sprintf("%d calls at the server, %d as sent", window, cognitotest.MaxInWindow(sent, time.Second)),
			fmt.Sprintf("≤ %d (%s + burst)", rps+burst, strings.TrimPrefix(rateFlag, "--")), check(window <= rps+burst)},
	}
}

// dispatchTimes reads when each call of op ("" for any) left the tool
// from its debug log in JSON: run logs each attempt ("attempt"), export
// each call ("call"), when it ends, with its latency.
func dispatchTimes(logPath, op string) ([]time.Time, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var times []time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Op        string    `json:"op"`
			LatencyMS int64     `json:"latency_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "attempt" && rec.Msg != "call" || op != "" && rec.Op != op {
			continue
		}
		times = append(times, rec.Time.Add(-time.Duration(rec.LatencyMS)*time.Millisecond))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return times, sc.Err()
}

// memory checks that memory does not grow with the manifest: a dry run
// over a million rows (checked, built, reported, never sent) and a live
// run over 200,000.
func (b *bench) memory() []row {
	return append(b.dryRunMemory(), b.liveMemory())
}

func (b *bench) dryRunMemory() []row {
	const n = 1_000_000
	name := b.mode("memory: dry run, 1,000,000 rows")
	progress("  writing a 1,000,000-row manifest")
	path, err := b.manifest("dryrun", n)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer b.remove(path, reportPath(path))
	progress("  dry run")
	u, err := b.runTool("", path, "--dry-run", "--rps", "0")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	perSec := n / u.wall.Seconds()
	return []row{
		{name + ", peak RSS", mib(u.maxRSS), "≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)},
		{name + ", rows/s", fmt.Sprintf("%s (%.2f s, %.2f s CPU)", commas(int(perSec)), u.wall.Seconds(), u.cpu.Seconds()),
			"≥ " + commas(minDryRunRowsPerSec), check(perSec >= minDryRunRowsPerSec)},
	}
}

func (b *bench) liveMemory() row {
	const n = 200_000
	name := b.mode("memory: live run, 200,000 rows, --rps 0")
	u, _, err := b.live("livemem", n, 0, "--rps", "0")
	if err != nil {
		return errorRow(name, err)
	}
	return row{name + ", peak RSS",
		fmt.Sprintf("%s (%.2f s, %s rows/s)", mib(u.maxRSS), u.wall.Seconds(), commas(int(n/u.wall.Seconds()))),
		"≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)}
}

// startup is the fixed cost of one run: a one-row live run, the median
// of ten, so a cold page cache or a scheduling hiccup does not decide it.
func (b *bench) startup() []row {
	const runs = 10
	name := "start-up: 1-row live run, median of 10"
	path, err := b.manifest("startup", 1)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer b.remove(path, reportPath(path))
	srv, err := startFake(0)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer srv.stop()
	var walls []time.Duration
	for range runs {
		u, err := b.runTool(srv.URL, path)
		if err != nil {
			return []row{errorRow(name, err)}
		}
		walls = append(walls, u.wall)
	}
	if st, err := srv.stop(); err != nil || st.Calls != runs {
		return []row{errorRow(name, fmt.Errorf("the server got %d calls for %d one-row runs (%v)", st.Calls, runs, err))}
	}
	slices.Sort(walls)
	median := (walls[runs/2-1] + walls[runs/2]) / 2
	return []row{{name, fmt.Sprintf("%.1f ms (range %.1f–%.1f)", millis(median), millis(walls[0]), millis(walls[runs-1])),
		fmt.Sprintf("≤ %.0f ms", millis(maxStartupWall)), check(median <= maxStartupWall)}}
}

// peer runs the same 20 rows through mfabatch and through the AWS CLI in a
// shell-style loop, one process per row, as users do without the tool.
func (b *bench) peer() []row {
	const n = 20
	name := "peer: 20 rows, no latency"
	aws, err := exec.LookPath("aws")
	if err != nil {
		return []row{{name, "aws is not on PATH", "", skip}}
	}
	tool, err := b.peerTool(n)
	if err != nil {
		return []row{errorRow(name+", mfabatch --rps 0", err)}
	}
	cli, err := peerCLI(aws, b.tokens, n)
	if err != nil {
		return []row{errorRow(name+", aws CLI loop", err)}
	}
	toolRate, cliRate := n/tool.wall.Seconds(), n/cli.wall.Seconds()
	return []row{
		{name + ", mfabatch --rps 0", fmt.Sprintf("%.0f rows/s (%.1f ms CPU/row)", toolRate, millis(tool.cpu/n)), "", info},
		{name + ", aws CLI loop (" + aws + ")", fmt.Sprintf("%.2f rows/s (%.1f ms CPU/row)", cliRate, millis(cli.cpu/n)), "", info},
		{name + ", ratio mfabatch / aws CLI", fmt.Sprintf("%.0f×", toolRate/cliRate), "", info},
	}
}

func (b *bench) peerTool(n int) (usage, error) {
	u, _, err := b.live("peer", n, 0, "--rps", "0")
	return u, err
}

// peerCLI sends the same n tokens with one `aws` process each, one after
// another, and sums their usage.
func peerCLI(aws string, tokens *tokenMaker, n int) (usage, error) {
	srv, err := startFake(0)
	if err != nil {
		return usage{}, err
	}
	defer srv.stop()
	var total usage
	for i := range n {
		u, err := runChild(aws, "cognito-idp", "set-user-mfa-preference",
			"--endpoint-url", srv.URL, "--region", "us-east-1",
			"--access-token", tokens.token(i),
			"--software-token-mfa-settings", "Enabled=true,PreferredMfa=true")
		if err != nil {
			return total, err
		}
		total.wall += u.wall
		total.cpu += u.cpu
	}
	st, err := srv.stop()
	if err == nil && st.Calls != n {
		err = fmt.Errorf("the server got %d calls for %d rows", st.Calls, n)
	}
	return total, err
}

// commas formats n with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
