package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeTool stands in for mfabatch in samples/cron.sh: it logs its run,
// writes a summary with rows left to do, and exits with $FAKE_CODE.
const fakeTool = `#!/bin/sh
echo run >> "$FAKE_LOG"
while [ $# -gt 0 ]; do
	if [ "$1" = --summary ]; then
		echo '{"statuses": {"not_attempted": 1}}' > "$2"
	fi
	shift
done
exit "$FAKE_CODE"
`

// TestCronSample runs samples/cron.sh over each exit code: it resumes
// after 1 and 3 only, and passes the code on to the scheduler.
func TestCronSample(t *testing.T) {
	script, err := filepath.Abs("../../samples/cron.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		code int
		runs int    // runs made, with one resume allowed
		says string // in cron.sh's stderr
	}{
		{0, 1, "run 1 exited 0"},
		{1, 2, "run 2 exited 1"},
		{2, 1, "run 1 exited 2"},
		{3, 2, "run 2 exited 3"},
		{4, 1, "could not write its report or summary; see "},
		{129, 1, "run 1 exited 129"},
		{130, 1, "run 1 exited 130"},
		{143, 1, "run 1 exited 143"},
	} {
		dir := t.TempDir()
		tool := filepath.Join(dir, "mfabatch")
		if err := os.WriteFile(tool, []byte(fakeTool), 0o755); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(dir, "runs")
		cmd := exec.Command("sh", script, filepath.Join(dir, "manifest.csv"))
		cmd.Env = append(os.Environ(), "MFABATCH="+tool, "MFABATCH_REPORTS="+filepath.Join(dir, "reports"),
			"MFABATCH_RETRIES=1", "MFABATCH_RETRY_WAIT=0", "FAKE_LOG="+log, "FAKE_CODE="+strconv.Itoa(c.code))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(log)
		runs := strings.Count(string(b), "run\n")
		if code != c.code || runs != c.runs || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("mfabatch exiting %d: cron.sh made %d runs and exited %d, want %d runs and exit %d, saying %q; stderr:\n%s",
				c.code, runs, code, c.runs, c.code, c.says, stderr.String())
		}
	}
}
