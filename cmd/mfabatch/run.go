package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// runFlags are the run command's flags.
type runFlags struct {
	format, reportPath, reportFormat, summaryPath string
	resume, logFormat, shard, order               string
	shardCount                                    int
	logLevel                                      slog.Level
	dryRun, adaptive                              bool
	maxFailures                                   batch.Threshold
	rps                                           float64
	burst, workers, maxAttempts                   int
	timeout, minTokenTTL                          time.Duration
	region, profile, endpoint                     string
	defaults                                      batch.Settings
	progress                                      progressMode
	progressInterval                              time.Duration
}

// parseRunFlags reads run's command line. Help (-h) goes to stdout, as
// asked for; errors are returned for the caller to print once.
func parseRunFlags(args []string, stdout io.Writer) (*runFlags, string, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("mfabatch run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.format, "format", "", "manifest format: csv or jsonl (default: from the file name; for - the content)")
	fs.StringVar(&f.reportPath, "report", "-", "where the report goes (- for standard output)")
	fs.StringVar(&f.reportFormat, "report-format", "", "report format: csv or jsonl (default: from --report's name, else csv)")
	fs.StringVar(&f.summaryPath, "summary", "", "also write the run summary as JSON to this file")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check every row and show every request; send nothing")
	fs.StringVar(&f.resume, "resume", "", "skip rows that succeeded in this earlier report (CSV or JSONL)")
	f.maxFailures = batch.Threshold{Percent: 50}
	fs.Var(thresholdFlag{&f.maxFailures}, "max-failures", "halt when more than N rows, or N% of rows sent (checked from 100 on), have failed; off never halts")
	fs.BoolVar(&f.adaptive, "adaptive", true, "slow down when throttled, recover slowly, never above --rps")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	fs.StringVar(&f.order, "order", "manifest", "manifest (the file's order) or expiry: a file's rows soonest-expiring token first")
	fs.StringVar(&f.shard, "shard", "", "run only rows with (row - 1) mod N == I (default: from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX)")
	fs.IntVar(&f.shardCount, "shard-count", 0, "N for a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (default: MFABATCH_SHARD_COUNT)")
	f.logLevel = slog.LevelInfo
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log level: debug (every attempt), info, warn or error")
	f.progress = progressAuto
	fs.Var(progressFlag{&f.progress}, "progress", "progress on standard error: auto (a bar at a terminal, else log), bar, log or off")
	fs.DurationVar(&f.progressInterval, "progress-interval", 30*time.Second, "time between progress lines in log mode")
	fs.Float64Var(&f.rps, "rps", 10, "requests per second per region, retries included; 0 = unlimited")
	fs.IntVar(&f.burst, "burst", 1, "limiter burst")
	fs.Var(workersFlag{&f.workers}, "workers", "concurrent calls, or auto: as many as --rps needs at the latency seen")
	fs.IntVar(&f.maxAttempts, "max-attempts", 5, "attempts per row, the first included")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "limit for one attempt")
	fs.DurationVar(&f.minTokenTTL, "min-token-ttl", 5*time.Second, "do not send a token expiring within this of its dispatch")
	fs.StringVar(&f.region, "region", "", "Cognito region (default: AWS config, else each token's issuer)")
	fs.StringVar(&f.profile, "profile", "", "AWS shared-config profile")
	fs.StringVar(&f.endpoint, "endpoint-url", "", "send to this endpoint instead (emulators, tests)")
	fs.Var(factorFlag{&f.defaults.SMS, false}, "sms-mfa-settings", "default SMS block, e.g. Enabled=true,PreferredMfa=false")
	fs.Var(factorFlag{&f.defaults.SoftwareToken, false}, "software-token-mfa-settings", "default TOTP block")
	fs.Var(factorFlag{&f.defaults.Email, false}, "email-mfa-settings", "default email block")
	fs.Var(factorFlag{&f.defaults.WebAuthn, true}, "web-authn-mfa-settings", "default passkey block (Enabled only)")
	fs.Usage = func() {}
	help := func() {
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: mfabatch run [flags] MANIFEST\n\nflags:")
		fs.PrintDefaults()
	}

	// Flags may come after the manifest, as users type them.
	var positional []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			help()
			return nil, "", err
		} else if err != nil {
			return nil, "", usageError{err.Error(), "run 'mfabatch run -h' for the flags"}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) == 0:
		return nil, "", usageError{"no manifest given", "mfabatch run [flags] MANIFEST (- reads standard input)"}
	case len(positional) > 1:
		return nil, "", usageError{fmt.Sprintf("one manifest at a time, got %d: %s", len(positional), strings.Join(positional, " ")), ""}
	case f.rps < 0:
		return nil, "", usageError{"--rps must be 0 (unlimited) or more", ""}
	case f.burst < 1:
		return nil, "", usageError{"--burst must be 1 or more", ""}
	case f.workers < 0 || f.workers > 4096:
		return nil, "", usageError{"--workers must be auto or from 1 to 4096", ""}
	case f.maxAttempts < 1:
		return nil, "", usageError{"--max-attempts must be 1 or more", ""}
	case f.timeout <= 0:
		return nil, "", usageError{"--timeout must be more than 0", ""}
	case f.minTokenTTL < 0:
		return nil, "", usageError{"--min-token-ttl must not be negative", ""}
	case f.progressInterval <= 0:
		return nil, "", usageError{"--progress-interval must be more than 0", ""}
	}
	if f.order != "manifest" && f.order != "expiry" {
		return nil, "", usageError{fmt.Sprintf("--order %q: want manifest or expiry", f.order), ""}
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return nil, "", usageError{fmt.Sprintf("--log-format %q: want text or json", f.logFormat), ""}
	}
	for _, v := range []struct{ flag, val string }{{"--format", f.format}, {"--report-format", f.reportFormat}} {
		if v.val != "" && v.val != "csv" && v.val != "jsonl" {
			return nil, "", usageError{fmt.Sprintf("%s %q: want csv or jsonl", v.flag, v.val), ""}
		}
	}
	return f, positional[0], nil
}

// factorFlag is a settings flag in the AWS CLI's shorthand or JSON syntax.
type factorFlag struct {
	f       *batch.Factor
	passkey bool
}

func (v factorFlag) String() string { return "" }

func (v factorFlag) Set(s string) error {
	f, err := batch.ParseFactor(s, v.passkey)
	if err != nil {
		return err
	}
	*v.f = f
	return nil
}

// workersFlag is --workers: auto (0) or a count.
type workersFlag struct{ n *int }

func (v workersFlag) String() string {
	if v.n == nil || *v.n == 0 {
		return "auto"
	}
	return strconv.Itoa(*v.n)
}

func (v workersFlag) Set(s string) error {
	if s == "auto" {
		*v.n = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return errors.New("want auto or a number from 1")
	}
	*v.n = n
	return nil
}

// thresholdFlag is --max-failures: N, N% or off.
type thresholdFlag struct{ t *batch.Threshold }

func (v thresholdFlag) String() string {
	if v.t == nil {
		return ""
	}
	return v.t.String()
}

func (v thresholdFlag) Set(s string) error {
	t, err := batch.ParseThreshold(s)
	if err != nil {
		return err
	}
	*v.t = t
	return nil
}

func runCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, path, err := parseRunFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitNotSent
	}
	sum, err := run(ctx, f, path, stdin, stdout, stderr)
	if sum != nil {
		if werr := report.WriteSummary(stderr, sum); werr != nil && err == nil {
			err = werr
		}
	}
	var he *batch.HaltError
	switch {
	case sum != nil && sum.Interrupted:
		return interruptCode(ctx)
	case errors.As(err, &he):
		return exitHalted
	case err != nil:
		printError(stderr, err)
		if sum == nil || sum.Attempts == 0 {
			return exitNotSent
		}
		return exitRows
	case !sum.OK():
		return exitRows
	}
	return exitOK
}

// run does the work of runCmd. A nil Summary means nothing was sent.
func run(ctx context.Context, f *runFlags, path string, stdin io.Reader, stdout, stderr io.Writer) (*batch.Summary, error) {
	in, name, closeIn, err := openManifest(path, stdin, stderr)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	manifest, err := readManifest(in, name, f.format)
	if err != nil {
		return nil, err
	}
	if c, ok := manifest.(io.Closer); ok {
		defer c.Close()
	}
	if f.order == "expiry" {
		src, seekable := in.(io.ReaderAt)
		if path == "-" || !seekable {
			return nil, usageError{"--order expiry needs a manifest file", "save standard input to a file (mode 0600) first"}
		}
		if manifest, err = batch.ByExpiry(manifest, src); err != nil {
			return nil, err
		}
	}

	shard, err := chooseShard(f, os.Getenv)
	if err != nil {
		return nil, err
	}

	// Read before the report is created: it may be the same file.
	var done report.Done
	if f.resume != "" {
		if done, err = readDone(f.resume); err != nil {
			return nil, err
		}
	}

	cfg, err := loadAWSConfig(ctx, f)
	if err != nil {
		return nil, err
	}
	conns := f.workers
	if conns == 0 {
		conns = batch.MaxAutoWorkers
	}
	client, err := batch.NewClient(cfg, f.endpoint, conns)
	if err != nil {
		return nil, usageError{err.Error(), "use an https:// endpoint, or run the emulator on 127.0.0.1"}
	}

	out, closeOut, err := createReport(f.reportPath, path, stdout)
	if err != nil {
		return nil, err
	}
	w, err := newReportWriter(out, f.reportFormat, f.reportPath)
	if err != nil {
		closeOut()
		return nil, fmt.Errorf("report: %w", err)
	}
	// Progress (--progress) counts each result, shows on stderr while the
	// run goes, and is cleared before the summary.
	prog := newProgress(f, path, manifest, shard, stdout, stderr)
	r := &batch.Runner{Client: client, Config: batch.Config{
		Workers: f.workers, RPS: f.rps, Burst: f.burst, MaxAttempts: f.maxAttempts,
		Timeout: f.timeout, MinTokenTTL: f.minTokenTTL, Region: cfg.Region,
		Defaults: f.defaults, DryRun: f.dryRun, MaxFailures: f.maxFailures, Adaptive: f.adaptive,
		Log: newLogger(prog.Stderr(), f.logFormat, f.logLevel), Shard: shard, OnResult: prog.Add,
	}}
	if done != nil {
		r.Config.AlreadyDone = done.Has
	}
	if !f.dryRun && path != "-" {
		if err := plan(ctx, r.Config, f, path, manifest, stderr); err != nil {
			closeOut()
			return nil, err
		}
	}
	prog.Start()
	sum, runErr := r.Run(ctx, manifest, w)
	prog.Stop()
	// An interrupt or a halt still closes the report and writes the
	// summary; it is returned last, for the exit code.
	var stopErr error
	var he *batch.HaltError
	if errors.Is(runErr, context.Canceled) && sum.Interrupted || errors.As(runErr, &he) {
		stopErr, runErr = runErr, nil
	}
	if err := closeOut(); err != nil && runErr == nil {
		runErr = fmt.Errorf("report: %w", err)
	}
	if f.summaryPath != "" {
		if err := writeSummaryFile(f.summaryPath, sum); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr == nil {
		runErr = stopErr
	}
	return sum, runErr
}

// openManifest opens path, or standard input for "-", and warns when
// other users can read the tokens in it.
func openManifest(path string, stdin io.Reader, stderr io.Writer) (io.Reader, string, func(), error) {
	if path == "-" {
		return stdin, "-", func() {}, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("cannot read the manifest: %w", err)
	}
	st, err := fh.Stat()
	if err == nil && st.IsDir() {
		fh.Close()
		return nil, "", nil, fmt.Errorf("cannot read the manifest: %s is a directory", path)
	}
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "mfabatch: warning: %s can be read by other users (mode %04o), and it holds access tokens\nmfabatch: hint: chmod 600 %s\n", path, st.Mode().Perm(), path)
	}
	return fh, path, func() { fh.Close() }, nil
}

// readManifest picks the manifest's format (the flag, else the file's
// extension, else for standard input its first non-blank byte) and checks
// its header.
func readManifest(in io.Reader, name, format string) (batch.Manifest, error) {
	if format == "" && name != "-" {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".csv":
			format = "csv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			return nil, usageError{fmt.Sprintf("cannot tell the format of %s from its name", name), "name it .csv or .jsonl, or pass --format csv|jsonl"}
		}
	}
	if format == "" {
		br := bufio.NewReader(in)
		in = br
		format = "csv"
		if sniffJSON(br) {
			format = "jsonl"
		}
	}
	if format == "jsonl" {
		return batch.ReadJSONL(in), nil
	}
	m, err := batch.ReadCSV(in)
	var he *batch.HeaderError
	switch {
	case errors.As(err, &he):
		return nil, usageError{err.Error(), "a CSV manifest's first line names its columns, e.g.: " + strings.Join(batch.Columns, ",")}
	case err != nil:
		return nil, err
	}
	return m, nil
}

// sniffJSON reports whether the first non-blank byte, after any byte-order
// mark, is '{'.
func sniffJSON(br *bufio.Reader) bool {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return false
		}
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
			return t[0] == '{'
		}
		if err != nil {
			return false
		}
	}
	return false
}

func loadAWSConfig(ctx context.Context, f *runFlags) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, usageError{fmt.Sprintf("AWS configuration: %v", err), "check --profile and AWS_PROFILE"}
	}
	return cfg, nil
}

// createReport opens where the report goes: standard output, or a file
// that only its owner can read, never the manifest itself.
func createReport(path, manifest string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	if manifest != "-" {
		if a, err := os.Stat(path); err == nil {
			if b, err := os.Stat(manifest); err == nil && os.SameFile(a, b) {
				return nil, nil, usageError{"--report " + path + " is the manifest itself", "write the report to another file"}
			}
		}
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create the report: %w", err)
	}
	// An existing file keeps its mode on open; the report names users.
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("cannot restrict the report to its owner: %w", err)
	}
	return fh, fh.Close, nil
}

func newReportWriter(out io.Writer, format, path string) (batch.Sink, error) {
	if format == "" {
		format = "csv"
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		}
	}
	if format == "jsonl" {
		return report.NewJSONL(out), nil
	}
	return report.NewCSV(out)
}

// plan says, before anything is sent, how many rows a run from a file will
// send, how long that takes at --rps, and how many tokens will expire
// before their turn: a dry run of the same rows.
func plan(ctx context.Context, cfg batch.Config, f *runFlags, path string, m batch.Manifest, stderr io.Writer) error {
	pm, done, err := secondReader(f, path, m)
	if err != nil {
		return err
	}
	defer done()
	cfg.DryRun, cfg.Log, cfg.OnResult = true, nil, nil
	sum, err := (&batch.Runner{Config: cfg}).Run(ctx, pm, discard{})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, report.PlanLine(sum))
	return nil
}

// secondReader reads the manifest again, leaving m unread: rows held in
// memory from the start, a file from a second open.
func secondReader(f *runFlags, path string, m batch.Manifest) (batch.Manifest, func(), error) {
	if rows, ok := m.(*batch.Rows); ok {
		return rows.Again(), func() {}, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the manifest: %w", err)
	}
	pm, err := readManifest(fh, path, f.format)
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return pm, func() {
		if c, ok := pm.(io.Closer); ok {
			c.Close()
		}
		fh.Close()
	}, nil
}

// discard is a report sink that keeps nothing.
type discard struct{}

func (discard) Write(batch.Result) error { return nil }
func (discard) Flush() error             { return nil }

// chooseShard picks the shard: --shard, else a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX (its count from --shard-count or
// MFABATCH_SHARD_COUNT), else an AWS Batch array job's index and size.
func chooseShard(f *runFlags, getenv func(string) string) (batch.Shard, error) {
	if f.shardCount < 0 {
		return batch.Shard{}, usageError{"--shard-count must be 1 or more", ""}
	}
	if f.shardCount > 0 && f.shard == "" && getenv("JOB_COMPLETION_INDEX") == "" {
		return batch.Shard{}, usageError{"--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it)", "outside Kubernetes, pass --shard I/N"}
	}
	if f.shard != "" {
		s, err := batch.ParseShard(f.shard)
		if err != nil {
			return s, usageError{fmt.Sprintf("--shard %q: %v", f.shard, err), ""}
		}
		return s, nil
	}
	if i := getenv("JOB_COMPLETION_INDEX"); i != "" {
		n := getenv("MFABATCH_SHARD_COUNT")
		if f.shardCount > 0 {
			n = strconv.Itoa(f.shardCount)
		}
		if n == "" {
			return batch.Shard{}, usageError{"JOB_COMPLETION_INDEX is set but the shard count is not", "pass --shard-count N or set MFABATCH_SHARD_COUNT to the Job's completions"}
		}
		s, err := batch.NewShard(i, n)
		if err != nil {
			return s, usageError{fmt.Sprintf("JOB_COMPLETION_INDEX: %v", err), ""}
		}
		return s, nil
	}
	if i := getenv("AWS_BATCH_JOB_ARRAY_INDEX"); i != "" {
		s, err := batch.NewShard(i, getenv("AWS_BATCH_JOB_ARRAY_SIZE"))
		if err != nil {
			return s, usageError{fmt.Sprintf("AWS_BATCH_JOB_ARRAY_INDEX: %v", err), "AWS Batch sets AWS_BATCH_JOB_ARRAY_SIZE in array child jobs; elsewhere set it, or pass --shard I/N"}
		}
		return s, nil
	}
	return batch.Shard{}, nil
}

// newLogger logs to stderr, where the summary goes; the report keeps
// standard output to itself.
func newLogger(stderr io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// readDone reads the report given to --resume.
func readDone(path string) (report.Done, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--resume: %v", err), "give the report of the earlier run"}
	}
	defer fh.Close()
	done, err := report.ReadDone(fh)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--resume %s: %v", path, err), ""}
	}
	return done, nil
}

func writeSummaryFile(path string, sum *batch.Summary) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	err = report.WriteSummaryJSON(fh, sum)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
}

func quote(s string) string { return strconv.Quote(s) }
