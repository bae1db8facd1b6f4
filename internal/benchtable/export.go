package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// exportUsers is the size of the pool the export measure exports.
const exportUsers = 100_000

// maxListPerSec is the most list calls an export may make in a second:
// a third of the UserList quota (30/s), which every tool listing users
// in the account shares.
const maxListPerSec = 10

// export measures `mfabatch export`: a pool of 100,000 users in mixed
// states with reads unlimited (time, memory, and the listing's pace at
// the server); then reads at --read-rps 100 with 50 ms latency, timed at
// the server.
func (b *bench) export() []row {
	return append(b.exportAll(), b.exportPaced()...)
}

func (b *bench) exportAll() []row {
	name := fmt.Sprintf("export: %s users, --read-rps 0", commas(exportUsers))
	u, st, err := b.runExport("export", "", 0, exportUsers, "--read-rps", "0")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	list := st.ByCategory[cognitotest.UserList]
	return []row{
		{name + ", time", fmt.Sprintf("%.1f s (%s users/s; %.0f µs CPU a user; listing at %d pages/s takes %d s)", u.wall.Seconds(),
			commas(int(exportUsers/u.wall.Seconds())), micros(u.cpu/exportUsers), batch.ListPagesPerSecond,
			exportPages(exportUsers)/batch.ListPagesPerSecond), "", info},
		{name + ", peak RSS", mib(u.maxRSS), "≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)},
		{name + ", ListUsers calls/s at the server", listFigure(list, exportUsers), fmt.Sprintf("≤ %d (UserList quota 30)", maxListPerSec),
			check(list.MaxIn1s <= maxListPerSec)},
	}
}

// exportPaced exports pacedSeconds of reads at --read-rps 100, and checks
// the rate the server saw: reached, and not exceeded in any second.
func (b *bench) exportPaced() []row {
	const rps, burst = 100, 1
	name := fmt.Sprintf("export: --read-rps %d, 50 ms latency, %d s", rps, pacedSeconds)
	n := rps*pacedSeconds + burst
	logPath := filepath.Join(b.dir, "export-paced.log")
	defer b.remove(logPath)
	_, st, err := b.runExport("export-paced", logPath, 50*time.Millisecond, n, "--read-rps", strconv.Itoa(rps),
		"--log-level", "debug", "--log-format", "json")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	sent, err := dispatchTimes(logPath, batch.OpRead)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	reads, list := st.ByCategory[cognitotest.UserRead], st.ByCategory[cognitotest.UserList]
	ratio := reads.rate(burst) / rps
	return []row{
		{name + ", AdminGetUser achieved / --read-rps", fmt.Sprintf("%.3f (%.2f/s over %.2f s)", ratio, reads.rate(burst), reads.Span.Seconds()),
			fmt.Sprintf("≥ %.2f", minRateRatio), check(ratio >= minRateRatio)},
		{name + ", AdminGetUser busiest 1 s window", fmt.Sprintf("%d calls at the server, %d as sent", reads.MaxIn1s, cognitotest.MaxInWindow(sent, time.Second)),
			fmt.Sprintf("≤ %d (read-rps + burst)", rps+burst), check(reads.MaxIn1s <= rps+burst)},
		{name + ", ListUsers calls/s at the server", listFigure(list, n), fmt.Sprintf("≤ %d (UserList quota 30)", maxListPerSec),
			check(list.MaxIn1s <= maxListPerSec)},
	}
}

// exportPages is how many pages list n users.
func exportPages(n int) int { return (n + batch.PageSize - 1) / batch.PageSize }

// listFigure says how fast the server was listed, and how many list calls
// were retries: more calls than the pages of n users.
func listFigure(list callStats, n int) string {
	return fmt.Sprintf("busiest second %d; %d calls for %d pages over %.1f s", list.MaxIn1s, list.Calls, exportPages(n), list.Span.Seconds())
}

// runExport exports a fake pool of n users (cognitotest.Generated's) that
// answers after delay, the tool's log written to logPath unless it is "",
// and checks that each user was read, every page listed, and the output
// holds a row for each user.
func (b *bench) runExport(name, logPath string, delay time.Duration, n int, flags ...string) (usage, stats, error) {
	out := filepath.Join(b.dir, name+".csv")
	defer b.remove(out)
	srv, err := startSeededFake(delay, n)
	if err != nil {
		return usage{}, stats{}, err
	}
	defer srv.stop()
	args := append([]string{"export", "--user-pool-id", benchPool, "--endpoint-url", srv.URL, "--output", out}, flags...)
	u, err := runChildLogging(logPath, b.bin, args...)
	if err != nil {
		return u, stats{}, err
	}
	st, err := srv.stop()
	if err != nil {
		return u, st, err
	}
	// A call retried (see listFigure) counts twice at the server.
	reads, lists := st.ByCategory[cognitotest.UserRead].Calls, st.ByCategory[cognitotest.UserList].Calls
	if pages := exportPages(n); reads < n || lists < pages {
		return u, st, fmt.Errorf("the server got %d reads and %d list calls for %d users (%d pages)", reads, lists, n, pages)
	}
	if rows, err := countLines(out); err != nil || rows != n+1 {
		return u, st, fmt.Errorf("the export has %d lines for %d users and a header (%v)", rows, n, err)
	}
	return u, st, nil
}

// countLines counts the lines of the file at path.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n := 0
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		switch {
		case err == io.EOF:
			return n, nil
		case err != nil:
			return n, err
		}
	}
}
