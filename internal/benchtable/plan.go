package main

import (
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// planRows is the size of the plan's manifest, and of the pool it reads.
const planRows = 100_000

// plan measures `run --plan` in admin mode, one AdminGetUser a row and no
// write: over 100,000 users of a fake pool in mixed states, the tool's
// rate, CPU and memory with reads unlimited; then reads at --read-rps 100
// with 50 ms latency, timed at the server.
func (b *bench) plan() []row {
	admin := *b
	admin.admin = true
	rows := admin.planAll()
	name := fmt.Sprintf("plan: --read-rps 100, 50 ms latency, %d s, admin", pacedSeconds)
	return append(rows, admin.paced(name, "plan-paced", "--read-rps", 100, "--plan")...)
}

// planAll plans 100,000 rows that ask for SMS preferred, against a fake
// pool of the same users, and checks that every row was read, nothing
// written, and the plan line counts the users already as asked.
func (b *bench) planAll() []row {
	name := fmt.Sprintf("plan: %s admin rows, --read-rps 0, --workers 32", commas(planRows))
	path := filepath.Join(b.dir, "plan.csv")
	unchanged, err := writePlanManifest(path, planRows)
	if err != nil {
		return []row{errorRow(name, fmt.Errorf("writing the manifest: %w", err))}
	}
	logPath := filepath.Join(b.dir, "plan.log")
	defer b.remove(path, reportPath(path), logPath)
	srv, err := startSeededFake(0, planRows)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer srv.stop()
	u, err := b.runToolLogging(logPath, srv.URL, path, "--plan", "--read-rps", "0", "--workers", "32")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	st, err := srv.stop()
	if err == nil {
		err = checkPlan(st, logPath, unchanged)
	}
	if err != nil {
		return []row{errorRow(name, err)}
	}
	rps, cpu := planRows/u.wall.Seconds(), u.cpu/planRows
	return []row{
		{name + ", rows/s end to end", fmt.Sprintf("%s rows/s (%.2f s)", commas(int(rps)), u.wall.Seconds()),
			"≥ " + commas(minRowsPerSec), check(rps >= minRowsPerSec)},
		{name + ", tool CPU per row", fmt.Sprintf("%.0f µs", micros(cpu)),
			fmt.Sprintf("≤ %.0f µs", micros(maxCPUPerRow)), check(cpu <= maxCPUPerRow)},
		{name + ", peak RSS", mib(u.maxRSS), "≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)},
	}
}

// checkPlan checks a plan of planRows rows read each user once, wrote
// nothing, and said how many were unchanged.
func checkPlan(st stats, logPath string, unchanged int) error {
	reads, writes := st.ByCategory[cognitotest.UserRead].Calls, st.ByCategory[cognitotest.UserUpdate].Calls
	if reads != planRows || writes != 0 {
		return fmt.Errorf("the server got %d reads and %d writes for a plan of %d rows", reads, writes, planRows)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("mfabatch: plan: %d to change, %d unchanged, 0 invalid, 0 unreadable", planRows-unchanged, unchanged)
	if !slices.Contains(strings.Split(string(log), "\n"), want) {
		return fmt.Errorf("the tool's output lacks %q", want)
	}
	return nil
}

// planManifestHeader asks for SMS enabled and preferred, by user name.
const planManifestHeader = "id,username,user_pool_id,sms_enabled,sms_preferred\n"

// writePlanManifest writes an admin manifest of the n users
// cognitotest.Generated puts in benchPool, each asked for SMS preferred,
// and returns how many of them already are.
func writePlanManifest(path string, n int) (unchanged int, err error) {
	next, stop := iter.Pull(cognitotest.Generated(benchPool, n))
	defer stop()
	err = writeLines(path, planManifestHeader, n, func(line []byte, i int) []byte {
		u, _ := next()
		if u.Preferred == "SMS_MFA" {
			unchanged++
		}
		return fmt.Appendf(line, "u%d,%s,%s,true,true\n", i, u.Username, benchPool)
	})
	return unchanged, err
}
