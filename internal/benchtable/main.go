// Command benchtable measures mfabatch against its performance targets and
// prints one table: overhead, rate accuracy, memory, start-up, the AWS CLI
// as a peer, and a quota shared with production traffic.
//
// It builds the real binary and runs it as a child process against a fake
// Cognito (batch/cognitotest) on 127.0.0.1, served by this program in a
// process of its own (-serve). The tool's CPU time and peak RSS come from
// its own rusage, so the fake server's cost is not counted against the
// tool; its wall time is what a user waits. Run it from the repository with `make bench`; it
// exits 1 when a target is missed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// bench is one run of the harness.
type bench struct {
	bin    string      // the mfabatch binary measured
	dir    string      // scratch for manifests and reports
	tokens *tokenMaker // every manifest's tokens
	keep   bool        // keep manifests and reports, to rerun by hand
	// admin makes the manifests admin ones: rows by user name, sent with
	// AdminSetUserMFAPreference, signed.
	admin bool
	// cpuPerRow is the overhead measure's median CPU per row, by admin.
	cpuPerRow map[bool]time.Duration
}

// mode prefixes a measure's name with the mode it ran in.
func (b *bench) mode(name string) string {
	if b.admin {
		return "admin " + name
	}
	return name
}

// measures are run in this order; -only picks some of them by name.
var measures = []struct {
	name string
	run  func(*bench) []row
}{
	{"overhead", (*bench).overhead},
	{"rate", (*bench).rate},
	{"memory", (*bench).memory},
	{"yaml", (*bench).yamlMemory},
	{"startup", (*bench).startup},
	{"peer", (*bench).peer},
	{"shared", (*bench).shared},
	{"idle", (*bench).idle},
	{"s3", (*bench).s3RoundTrip},
	{"admin", (*bench).adminMode},
	{"plan", (*bench).plan},
	{"export", (*bench).export},
}

func main() {
	only := flag.String("only", "", "comma-separated measures to run: overhead, rate, memory, yaml, startup, peer, shared, idle, s3, admin, plan, export (default: all)")
	bin := flag.String("bin", "", "mfabatch binary to measure (default: build ./cmd/mfabatch)")
	keep := flag.Bool("keep", false, "keep the scratch directory with its manifests and reports")
	serveMode := flag.Bool("serve", false, "internal: serve a fake Cognito for the harness (see fake.go)")
	delay := flag.Duration("delay", 0, "internal: with -serve, the latency of every answer")
	var q sharedQuota
	flag.Float64Var(&q.Grant, "grant", 0, "internal: with -serve, a quota of this many calls a second shared with production")
	flag.Float64Var(&q.Production, "production", 0, "internal: with -grant, production's calls a second")
	flag.DurationVar(&q.For, "for", 0, "internal: with -grant, how long production runs")
	users := flag.Int("users", 0, "internal: with -serve, how many users the pool "+benchPool+" holds")
	flag.Parse()
	if *serveMode {
		os.Exit(serve(*delay, q, *users))
	}
	os.Exit(run(*only, *bin, *keep))
}

func run(only, bin string, keep bool) int {
	want, err := pick(only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "mfabatch-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		return 2
	}
	if keep {
		fmt.Fprintln(os.Stderr, "benchtable: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if bin == "" {
		progress("building mfabatch")
		if bin, err = buildTool(dir); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			return 2
		}
	}
	// Two hours covers the whole run: the dry run refuses tokens that
	// expire within --min-token-ttl.
	b := &bench{bin: bin, dir: dir, tokens: newTokenMaker(time.Now().Add(2 * time.Hour)), keep: keep,
		cpuPerRow: map[bool]time.Duration{}}

	// Other work on the machine skews every figure; the load before the
	// first measure shows whether it was quiet.
	load := loadAverage()
	var rows []row
	for _, m := range measures {
		if want[m.name] {
			progress("measuring " + m.name)
			rows = append(rows, m.run(b)...)
		}
	}
	fmt.Println()
	fmt.Printf("%s; load average %s before the run\n", machine(bin), load)
	fmt.Println()
	printTable(os.Stdout, rows)
	fmt.Print(footnote())
	missed := 0
	for _, r := range rows {
		if r.verdict == fail {
			missed++
		}
	}
	if missed > 0 {
		fmt.Printf("\n%d of the rows above missed their target.\n", missed)
		return 1
	}
	return 0
}

// footnote says how the figures were taken, under the table.
func footnote() string {
	return fmt.Sprintf(`
CPU and peak RSS are the mfabatch process's own (its rusage); the fake
Cognito runs in a process of its own, on the same cores. On Linux a child's
peak RSS starts from its parent's at the fork: the harness peaked at %s,
so no figure above can read lower. Rates and windows are timed at the
server, on arrival, which is what a quota counts; "as sent" counts the
same calls where they left the tool (its debug log), so a window over
--rps + --burst at the server alone is delivery jitter, not the limiter.
Overhead is the median of three runs: other work on a shared machine only
ever adds to a run's time and CPU.
`, mib(selfPeakRSS()))
}

// selfPeakRSS is the peak RSS of this process's memory in bytes: VmHWM,
// which is what exec passes on to a child. (getrusage would also count
// `go run`'s own peak, passed on to this process the same way.)
func selfPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib * 1024
		}
	}
	return 0
}

// pick returns the measures named in a comma-separated list; all when it
// is empty.
func pick(only string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, m := range measures {
		want[m.name] = only == ""
	}
	if only == "" {
		return want, nil
	}
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		if _, ok := want[name]; !ok {
			return nil, fmt.Errorf("-only: unknown measure %q", name)
		}
		want[name] = true
	}
	return want, nil
}

// progress says on stderr what is running, so a slow step is not mistaken
// for a hang; the table alone goes to stdout.
func progress(msg string) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), msg)
}

// manifest writes an n-row manifest into the scratch directory and
// returns its path.
func (b *bench) manifest(name string, n int) (string, error) {
	path := filepath.Join(b.dir, name+".csv")
	write := func() error { return writeManifest(path, n, b.tokens) }
	if b.admin {
		path = filepath.Join(b.dir, "admin-"+name+".csv")
		write = func() error { return writeAdminManifest(path, n) }
	}
	if err := write(); err != nil {
		return "", fmt.Errorf("writing the manifest: %w", err)
	}
	return path, nil
}

// remove deletes scratch files once a measure is done with them: the
// largest manifest is about a gigabyte.
func (b *bench) remove(paths ...string) {
	if b.keep {
		return
	}
	for _, p := range paths {
		os.Remove(p)
	}
}

// reportPath is where a manifest's report goes.
func reportPath(manifest string) string {
	return strings.TrimSuffix(manifest, ".csv") + ".report.csv"
}

// runTool runs `mfabatch run` over manifest with the report going to a
// file, sending to endpoint unless it is "" (a dry run sends nothing).
func (b *bench) runTool(endpoint, manifest string, flags ...string) (usage, error) {
	return b.runToolLogging("", endpoint, manifest, flags...)
}

// runToolLogging is runTool with the tool's log written to logPath, unless
// it is "".
func (b *bench) runToolLogging(logPath, endpoint, manifest string, flags ...string) (usage, error) {
	return runChildLogging(logPath, b.bin, toolArgs(endpoint, manifest, flags)...)
}

// toolArgs are the arguments of `mfabatch run` over manifest with the
// report going to a file, sending to endpoint unless it is "".
func toolArgs(endpoint, manifest string, flags []string) []string {
	args := []string{"run", "--region", "us-east-1", "--report", reportPath(manifest)}
	if endpoint != "" {
		args = append(args, "--endpoint-url", endpoint)
	}
	args = append(args, flags...)
	return append(args, manifest)
}

// machine describes where the table was measured.
func machine(bin string) string {
	version := "unknown"
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("machine: %d CPUs (nproc), %s, %s/%s, %s; %s",
		runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), version)
}

// loadAverage is the one-minute load average, from /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// cpuModel is the first "model name" in /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

// verdict is a row's last column.
type verdict string

const (
	pass verdict = "pass"
	fail verdict = "FAIL"
	info verdict = "—" // a figure with no target
	skip verdict = "skipped"
)

func check(ok bool) verdict {
	if ok {
		return pass
	}
	return fail
}

// row is one line of the table.
type row struct {
	measure, figure, target string
	verdict                 verdict
}

// errorRow reports a measure that could not be taken: a miss, not a pass.
func errorRow(measure string, err error) row {
	return row{measure, "error: " + err.Error(), "", fail}
}

// printTable prints rows as a Markdown table, padded so it also reads well
// in a terminal and can be pasted into the README as it is.
func printTable(w io.Writer, rows []row) {
	cells := [][]string{{"measure", "figure", "target", "result"}}
	for _, r := range rows {
		cells = append(cells, []string{r.measure, r.figure, r.target, string(r.verdict)})
	}
	width := make([]int, 4)
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	printLine := func(line []string) {
		for i, c := range line {
			fmt.Fprintf(w, "| %s%s ", c, strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
		}
		fmt.Fprintln(w, "|")
	}
	printLine(cells[0])
	rule := slices.Clone(cells[0])
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	printLine(rule)
	for _, line := range cells[1:] {
		printLine(line)
	}
}
