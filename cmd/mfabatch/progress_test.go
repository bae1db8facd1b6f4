package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"github.com/mfabatch/mfabatch/report"
	"go.uber.org/goleak"
)

// barFrame is the bar's line: percentage, bar, rows done (of the total,
// when known), succeeded and failed rows.
var barFrame = regexp.MustCompile(`^(?:\s*\d+% \|[█ ]*\||[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏])\s+(\d+)(?:/(\d+))? rows, (\d+) succeeded, (\d+) failed`)

// TestProgressBarOnTerminal runs the tool with standard error on a
// pseudo-terminal, as a person at a terminal runs it, and reads what the
// screen shows: with the default --progress (auto), a bar whose counts go
// up while the rows finish, cut to the terminal's width, and gone from the
// screen when the summary is printed. Nothing of it reaches stdout.
func TestProgressBarOnTerminal(t *testing.T) {
	bindir := filepath.Join(t.TempDir(), "bin")
	if err := installTool(bindir); err != nil {
		t.Fatal(err)
	}
	srv := cognitotest.NewServer(decide)
	t.Cleanup(srv.Close)
	// One row fails at once; six take half a second each, three at a time.
	manifest := "id,access_token,sms_enabled\n"
	for _, user := range []string{"badparam-a", "slow-1", "slow-2", "slow-3", "slow-4", "slow-5", "slow-6"} {
		manifest += user + "," + cognitotest.Token(cognitotest.Claims{Username: user}) + ",true\n"
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--endpoint-url", srv.URL, "--rps", "0", "--workers", "3", "--report", filepath.Join(dir, "report-%s.csv")}

	t.Run("file", func(t *testing.T) {
		t.Parallel()
		out := runOnTerminal(t, filepath.Join(bindir, "mfabatch"), 60, nil, fmtArgs(args, "file", path)...)
		eta := false
		for _, f := range checkBar(t, out, 60) {
			if f[2] != "7" {
				t.Fatalf("the bar shows a total of %s rows, want 7: %q", f[2], f[0])
			}
			eta = eta || strings.Contains(f[0], ", eta ")
		}
		if !eta {
			t.Errorf("no frame of the bar shows an ETA")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		t.Parallel()
		out := runOnTerminal(t, filepath.Join(bindir, "mfabatch"), 100, strings.NewReader(manifest), fmtArgs(args, "stdin", "-")...)
		for _, f := range checkBar(t, out, 100) {
			if f[2] != "" {
				t.Fatalf("from standard input the bar shows a total: %q", f[0])
			}
		}
	})
}

// fmtArgs fills the report's name in and adds the manifest.
func fmtArgs(args []string, name, manifest string) []string {
	out := make([]string, 0, len(args)+1)
	for _, a := range args {
		out = append(out, strings.ReplaceAll(a, "%s", name))
	}
	return append(out, manifest)
}

// terminalRun is what a run on a pseudo-terminal showed.
type terminalRun struct {
	raw    string     // every byte written to the terminal
	frames [][]string // the bar's line each time it was drawn, and barFrame's groups
	lines  []string   // the screen when the run had ended
	screen string     // lines, joined
}

// runOnTerminal runs bin with standard error on a pseudo-terminal cols
// wide, standard output on a pipe that must stay empty, and stdin.
func runOnTerminal(t *testing.T, bin string, cols uint16, stdin io.Reader, args ...string) terminalRun {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = terminalEnv(t)
	var stdout, stderrCopy bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child has its own
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&stderrCopy, ptmx) // until EIO: the child has exited
	}()
	err = cmd.Wait()
	<-read
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("mfabatch: %v, want exit status 1 (one row fails)\n%s", err, stderrCopy.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout has %q, want nothing: the report goes to a file and progress to stderr", stdout.String())
	}
	run := terminalRun{raw: stderrCopy.String()}
	var drawn []string
	run.lines, drawn = replay(t, run.raw)
	run.screen = strings.Join(run.lines, "\n")
	for _, d := range drawn {
		if m := barFrame.FindStringSubmatch(d); m != nil {
			m[0] = d
			run.frames = append(run.frames, m)
		} else {
			t.Errorf("a frame of the bar reads %q, want %v", d, barFrame)
		}
	}
	t.Logf("frames:\n%s\nscreen at the end:\n%s", strings.Join(drawn, "\n"), run.screen)
	return run
}

// checkBar checks that the bar was drawn with rising counts, at least two
// different ones, never wider than the terminal, and that the screen at
// the end shows the summary at the start of a line and no bar. It returns
// the frames.
func checkBar(t *testing.T, run terminalRun, cols int) [][]string {
	t.Helper()
	seen := map[string]bool{}
	last := -1
	for _, f := range run.frames {
		if w := len([]rune(f[0])); w > cols {
			t.Errorf("a frame is %d columns wide, on a terminal of %d: %q", w, cols, f[0])
		}
		done, _ := strconv.Atoi(f[1])
		if done < last {
			t.Errorf("the rows done went down from %d to %d", last, done)
		}
		last = done
		seen[f[1]] = true
	}
	if len(seen) < 2 {
		t.Errorf("the bar showed rows done %v, want at least two different counts; output:\n%q", seen, run.raw)
	}
	summary := -1
	for i, l := range run.lines {
		if barFrame.MatchString(l) || strings.Contains(l, " rows, ") && !strings.HasPrefix(l, "mfabatch: plan: ") {
			t.Errorf("line %d of the screen still shows the bar when the run has ended: %q", i+1, l)
		}
		if strings.HasPrefix(l, "mfabatch: run: 7 rows in ") {
			summary = i
		}
	}
	if summary < 0 {
		t.Errorf("the screen has no summary line starting a line:\n%s", run.screen)
	}
	return run.frames
}

// replay is a small terminal: it plays out back, as a terminal would show
// it, and returns the screen's lines and the line under the cursor each
// time a line was erased to its end (as the bar ends each drawing). It
// knows what the tool writes: text, \r, \n, ESC [ K (erase to the end of
// the line) and ESC [ 2 K (erase the line). Anything else fails the test.
func replay(t *testing.T, out string) (screen, drawn []string) {
	t.Helper()
	lines := [][]rune{nil}
	row, col := 0, 0
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '\r':
			col = 0
		case '\n':
			row, col = row+1, 0
			if row == len(lines) {
				lines = append(lines, nil)
			}
		case '\x1b':
			j := i + 1
			if j >= len(rs) || rs[j] != '[' {
				t.Fatalf("unknown escape at %d: %q", i, string(rs[i:min(i+8, len(rs))]))
			}
			j++
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			if j >= len(rs) {
				t.Fatalf("escape cut short at %d", i)
			}
			param := string(rs[i+2 : j])
			switch {
			case rs[j] == 'K' && (param == "" || param == "0"):
				if col < len(lines[row]) {
					lines[row] = lines[row][:col]
				}
				drawn = append(drawn, strings.TrimRight(string(lines[row]), " "))
			case rs[j] == 'K' && param == "2":
				lines[row] = nil
			default:
				t.Fatalf("unknown escape at %d: %q", i, string(rs[i:j+1]))
			}
			i = j
		default:
			for len(lines[row]) <= col {
				lines[row] = append(lines[row], ' ')
			}
			lines[row][col] = c
			col++
		}
	}
	for _, l := range lines {
		if s := strings.TrimRight(string(l), " "); s != "" {
			screen = append(screen, s)
		}
	}
	return screen, drawn
}

// terminalEnv is the tool's environment: a terminal, and no AWS
// configuration, credentials, metadata service or proxy.
func terminalEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if uk := strings.ToUpper(k); strings.HasPrefix(uk, "AWS_") || strings.HasSuffix(uk, "_PROXY") || uk == "TERM" || uk == "GORACE" {
			continue
		}
		env = append(env, kv)
	}
	none := filepath.Join(t.TempDir(), "none")
	return append(env,
		"TERM=xterm",
		"AWS_CONFIG_FILE="+filepath.Join(none, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(none, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"GORACE=atexit_sleep_ms=10", // a race-enabled binary otherwise sleeps a second at exit
	)
}

func TestChooseProgress(t *testing.T) {
	for _, tc := range []struct {
		mode                 progressMode
		stderrTTY, reportTTY bool
		term                 string
		want                 progressMode
	}{
		{progressAuto, true, false, "xterm", progressBar},
		{progressAuto, false, false, "xterm", progressLog},
		{progressAuto, true, true, "xterm", progressLog}, // the report's rows would break the bar's line
		{progressAuto, true, false, "dumb", progressLog},
		{progressBar, false, true, "dumb", progressBar}, // asked for: given
		{progressLog, true, false, "xterm", progressLog},
		{progressOff, true, false, "xterm", progressOff},
	} {
		if got := chooseProgress(tc.mode, tc.stderrTTY, tc.reportTTY, tc.term); got != tc.want {
			t.Errorf("chooseProgress(%s, stderr terminal %v, report terminal %v, TERM=%s) = %s, want %s",
				tc.mode, tc.stderrTTY, tc.reportTTY, tc.term, got, tc.want)
		}
	}
}

// TestPlanCountsRows checks the progress total the plan gives: the rows
// the run will report, whatever the file's blank lines, header and line
// ends, its order and the shard, and none for a pipe read once.
func TestPlanCountsRows(t *testing.T) {
	const token = "eyJ.x.y"
	csvHeader := "id,access_token,sms_enabled\n"
	for _, tc := range []struct {
		name, file, ext string
		expiry          bool
		shard           batch.Shard
		want            int
	}{
		{name: "csv", ext: ".csv", file: csvHeader + "a," + token + ",true\nb," + token + ",true\n", want: 2},
		{name: "csv in expiry order", ext: ".csv", expiry: true, file: csvHeader + "a," + token + ",true\nb," + token + ",true\n", want: 2},
		{name: "csv blank lines, CRLF, no newline at the end", ext: ".csv", file: "\ufeff" + csvHeader + "\r\n  \r\na,t,1\r\n\t\r\nb,t,1", want: 2},
		{name: "csv header only", ext: ".csv", file: csvHeader, want: 0},
		{name: "jsonl", ext: ".jsonl", file: "{\"access_token\":\"t\"}\n\n   \n{\"access_token\":\"t\"}\n{}", want: 3},
		{name: "shard 0/2 of 5", ext: ".jsonl", file: strings.Repeat("{}\n", 5), shard: batch.Shard{Index: 0, Count: 2}, want: 3},
		{name: "shard 1/2 of 5", ext: ".jsonl", file: strings.Repeat("{}\n", 5), shard: batch.Shard{Index: 1, Count: 2}, want: 2},
		{name: "shard 3/4 of 3", ext: ".jsonl", file: strings.Repeat("{}\n", 3), shard: batch.Shard{Index: 3, Count: 4}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m"+tc.ext)
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := planTotal(t, path, nil, tc.expiry, tc.shard); got != tc.want {
				t.Errorf("the plan counted %d rows, want %d", got, tc.want)
			}
		})
	}
	t.Run("standard input from a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.csv")
		if err := os.WriteFile(path, []byte("access_token\nt\nt\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if got := planTotal(t, "-", fh, false, batch.Shard{}); got != 2 {
			t.Errorf("the plan counted %d rows of standard input from a file, want 2", got)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		in := strings.NewReader("{}\n{}\n")
		if got := planTotal(t, "-", in, false, batch.Shard{}); got != 0 {
			t.Errorf("the plan counted %d rows of a pipe read once, want 0 (unknown)", got)
		}
	})
}

// planTotal plans the manifest at path (stdin for "-") as run does and
// returns the plan's count of rows.
func planTotal(t *testing.T, path string, stdin io.Reader, expiry bool, shard batch.Shard) int {
	t.Helper()
	src, err := openManifest(t.Context(), &storage{}, path, stdin, expiry)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	m, format, err := readManifest(src.r, src, "")
	if err != nil {
		t.Fatal(err)
	}
	if expiry {
		if m, err = batch.ByExpiry(m, io.NewSectionReader(src.file, src.base, src.size-src.base)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := report.NewCSV(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := plan(t.Context(), batch.Config{Shard: shard}, src, format, m, w, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return c.total
}

func TestFiguresText(t *testing.T) {
	for _, tc := range []struct {
		f        figures
		log, bar string
	}{{
		f:   figures{done: 1200, total: 5000, succeeded: 1180, failed: 12, other: 8, rate: 19.8},
		log: "1200/5000 rows (24%), succeeded 1180, failed 12, other 8, 19.8 rows/s, eta 3m12s",
		bar: "1200/5000 rows, 1180 succeeded, 12 failed, 8 other, 19.8/s, eta 3m12s",
	}, {
		f:   figures{done: 3, total: 10, succeeded: 3},
		log: "3/10 rows (30%), succeeded 3, failed 0, other 0, 0.0 rows/s, eta unknown",
		bar: "3/10 rows, 3 succeeded, 0 failed, 0.0/s",
	}, {
		f:   figures{done: 9, total: 10, succeeded: 9, rate: 4},
		log: "9/10 rows (90%), succeeded 9, failed 0, other 0, 4.0 rows/s, eta 1s", // rounded up
		bar: "9/10 rows, 9 succeeded, 0 failed, 4.0/s, eta 1s",
	}, {
		f:   figures{done: 7, succeeded: 5, failed: 2, rate: 2.25},
		log: "7 rows, succeeded 5, failed 2, other 0, 2.2 rows/s",
		bar: "7 rows, 5 succeeded, 2 failed, 2.2/s",
	}, {
		f:   figures{done: 1, total: 1e9, succeeded: 1, rate: 0.001},
		log: "1/1000000000 rows (0%), succeeded 1, failed 0, other 0, 0.0 rows/s, eta unknown",
		bar: "1/1000000000 rows, 1 succeeded, 0 failed, 0.0/s",
	}} {
		if got := tc.f.text(); got != tc.log {
			t.Errorf("text() = %q\nwant     %q", got, tc.log)
		}
		if got := tc.f.barText(); got != tc.bar {
			t.Errorf("barText() = %q\nwant        %q", got, tc.bar)
		}
	}
}

// syncBuffer is a bytes.Buffer for one writer goroutine and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestProgressLogStops checks the log display in-process: a line per
// interval with the counts Add was given, none after Stop, and no
// goroutine left behind.
func TestProgressLogStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var out syncBuffer
	p := &progress{mode: progressLog, out: &out, interval: 10 * time.Millisecond}
	p.Start(4)
	p.Add(batch.Result{Status: batch.StatusSucceeded})
	p.Add(batch.Result{Status: batch.StatusFailed})
	p.Add(batch.Result{Status: batch.StatusInvalid})
	want := "mfabatch: progress: 3/4 rows (75%), succeeded 1, failed 1, other 1, "
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no line %q within 5s; got:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	stopped := out.String()
	time.Sleep(5 * p.interval)
	if got := out.String(); got != stopped {
		t.Errorf("lines after Stop:\n%s", strings.TrimPrefix(got, stopped))
	}
	for _, l := range strings.Split(strings.TrimSpace(stopped), "\n") {
		if !strings.HasPrefix(l, "mfabatch: progress: ") {
			t.Errorf("line %q", l)
		}
	}
	p.Stop() // a second Stop is harmless
}

// TestProgressOff checks that off shows nothing and starts nothing.
func TestProgressOff(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var out syncBuffer
	p := &progress{mode: progressOff, out: &out, interval: time.Millisecond}
	p.Start(0)
	p.Add(batch.Result{Status: batch.StatusSucceeded})
	time.Sleep(5 * time.Millisecond)
	p.Stop()
	if out.String() != "" || p.Stderr() != io.Writer(&out) {
		t.Errorf("off wrote %q", out.String())
	}
}

// TestBarWriter checks that a log line written while the bar is shown
// clears the bar first and draws it again after: the log line has a line
// of its own, and no goroutine is left behind.
func TestBarWriter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var out syncBuffer
	p := &progress{mode: progressBar, out: &out}
	p.Start(3)
	p.Add(batch.Result{Status: batch.StatusSucceeded})
	fmt.Fprintln(p.Stderr(), "level=INFO msg=\"slowing down\"")
	p.Stop()
	lines, drawn := replay(t, out.String())
	if len(lines) != 1 || lines[0] != `level=INFO msg="slowing down"` {
		t.Errorf("the screen shows %q, want the log line alone", lines)
	}
	if len(drawn) < 2 || !strings.Contains(drawn[len(drawn)-1], "1/3 rows") {
		t.Errorf("the bar was drawn as %q, want it drawn again with 1/3 rows after the log line", drawn)
	}
}
