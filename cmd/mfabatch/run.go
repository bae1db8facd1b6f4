package main

import (
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// runCmd is "mfabatch run": it returns the exit code.
func runCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, path, err := parseRunFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitNotSent
	}
	met := newMetrics(f, stderr)
	sum, err := run(ctx, f, met, path, stdin, stdout, stderr)
	var nre *batch.NoRegionError
	var me *batch.ModeError
	var ue usageError
	switch {
	case errors.As(err, &nre):
		err = usageError{nre.Error(), "pass --region with the region of the users' pool"}
	case errors.As(err, &me):
		err = usageError{me.Error(), "a manifest names users by access_token (token mode) or by username and user_pool_id (admin mode), never both: split it into two manifests"}
	}
	if errors.As(err, &ue) && sum != nil && sum.Attempts == 0 {
		sum = nil // nothing was sent: the error says all there is
	}
	var pe *batch.PrettyJSONError
	if errors.As(err, &pe) {
		err = usageError{pe.Error(), prettyHint(path, pe)}
		if sum != nil && sum.Attempts == 0 {
			sum = nil
		}
	}
	if sum != nil {
		if werr := report.WriteSummary(stderr, sum); werr != nil && err == nil {
			err = werr
		}
	}
	code := exitCode(ctx, sum, err, stderr)
	met.finish(sum, code)
	return code
}

// exitCode prints err, if any, and says how the run ended. A nil Summary
// means nothing was sent.
func exitCode(ctx context.Context, sum *batch.Summary, err error, stderr io.Writer) int {
	var we writeError
	var he *batch.HaltError
	sent := sum != nil && sum.Attempts > 0
	switch {
	case errors.As(err, &we) && sent:
		printError(stderr, we.afterCalls())
		return exitUnrecorded
	case sum != nil && sum.Interrupted:
		return interruptCode(ctx)
	case sum == nil && interrupted(ctx):
		fmt.Fprintln(stderr, "mfabatch: interrupted before the first call: nothing was sent")
		return interruptCode(ctx)
	case errors.As(err, &he):
		return exitHalted
	case err != nil:
		printError(stderr, err)
		if !sent {
			return exitNotSent
		}
		return exitRows
	case !sum.OK() || sum.WouldExpire != nil && *sum.WouldExpire > 0:
		// A dry run fails too when tokens would expire before their turn,
		// so that "mfabatch run --dry-run ... || exit 1" guards a rollout.
		return exitRows
	}
	return exitOK
}

// run does the work of runCmd. A nil Summary means nothing was sent.
func run(ctx context.Context, f *runFlags, met *metrics, path string, stdin io.Reader, stdout, stderr io.Writer) (*batch.Summary, error) {
	if err := checkPaths(f, path, stdin, stdout); err != nil {
		return nil, err
	}
	setup := &awsSetup{f: f}
	st := &storage{setup: setup, kmsKey: f.sseKMSKeyID}
	in, err := loadManifest(ctx, f, st, path, stdin, stderr)
	if err != nil {
		return nil, err
	}
	defer in.close()
	src, manifest, format, empty := in.src, in.rows, in.format, in.empty

	shard, err := chooseShard(f, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := met.open(ctx, st, shard); err != nil {
		return nil, err
	}

	// Read before the report is written: it may be the same file.
	done, err := readDone(ctx, st, f.resume)
	if err != nil {
		return nil, err
	}

	cfg, client, err := cognitoClient(ctx, f, setup, manifest)
	if err != nil {
		return nil, err
	}

	outs, err := openOutputs(ctx, st, f, stdout)
	if err != nil {
		return nil, err
	}
	w, err := newReportWriter(outs.report, f.reportFormat, f.reportPath)
	if err != nil {
		outs.discard()
		return nil, fmt.Errorf("report: %w", err)
	}
	// Progress (--progress) counts each result, shows on stderr while the
	// run goes, and is cleared before the summary.
	prog := newProgress(f, stdout, stderr)
	r := &batch.Runner{Client: client, Config: runConfig(f, cfg.Region, shard, prog)}
	setup.use(&r.Config)
	met.watch(&r.Config, prog.Stderr())
	if done != nil {
		r.Config.AlreadyDone = done.Prior
	}
	total := 0 // the plan's count of rows; a dry run has no plan
	if !f.dryRun {
		if total, err = beforeFirstCall(ctx, &r.Config, src, format, manifest, w, outs, empty, stderr); err != nil {
			outs.discard()
			return nil, err
		}
	}
	prog.Start(int64(total))
	met.start(f.progressInterval)
	sum, runErr := r.Run(ctx, manifest, w)
	prog.Stop()
	met.halt()
	return sum, settle(sum, runErr, outs, stderr)
}

// loaded is a manifest opened and ready to read.
type loaded struct {
	src    *source
	rows   batch.Manifest
	format string
	empty  bool // an empty file: a manifest of no rows, as a header alone is
}

func (l *loaded) close() {
	if c, ok := l.rows.(io.Closer); ok {
		c.Close()
	}
	l.src.close()
}

// loadManifest opens the manifest, reads its header or first line, and
// orders its rows as --order asks.
func loadManifest(ctx context.Context, f *runFlags, st *storage, path string, stdin io.Reader, stderr io.Writer) (*loaded, error) {
	// A pipe is copied aside when it must be read twice.
	twice := f.order == "expiry" || !f.dryRun && f.resume != ""
	src, err := openManifest(ctx, st, path, stdin, twice)
	if err != nil {
		return nil, err
	}
	l := &loaded{src: src}
	l.rows, l.format, err = readManifest(src.r, src, f.format)
	warnReadable(stderr, src, l.format)
	if l.empty = errors.Is(err, batch.ErrEmpty); l.empty {
		l.rows, err = noRows{}, nil
	}
	if err != nil {
		src.close()
		return nil, err
	}
	if csv, ok := l.rows.(*batch.CSV); ok && csv.Admin() && !csv.Has("user_pool_id") && f.userPoolID == "" {
		src.close()
		return nil, usageError{"the manifest's header has username but no user_pool_id column, and no --user-pool-id was given: no row names its pool",
			"pass --user-pool-id ID for every row, or add a user_pool_id column"}
	}
	if f.order == "expiry" && !l.empty {
		// The rows are read again from the file; a pipe was copied aside.
		byExpiry, err := batch.ByExpiry(l.rows, io.NewSectionReader(src.file, src.base, src.size-src.base))
		if err != nil {
			l.close()
			return nil, expiryError(err, l.format, path)
		}
		l.rows = byExpiry
	}
	return l, nil
}

// cognitoClient makes the Cognito client. A live run of an admin CSV
// manifest finds its credentials here, before the plan and the report; the
// engine asks again before its first admin call, for manifests that say
// their mode row by row.
func cognitoClient(ctx context.Context, f *runFlags, setup *awsSetup, m batch.Manifest) (aws.Config, batch.Client, error) {
	cfg, err := setup.load(ctx)
	if err != nil {
		return cfg, nil, err
	}
	if !f.dryRun && adminCSV(m) {
		if err := setup.check(ctx); err != nil {
			return cfg, nil, err
		}
	}
	client, err := newClient(cfg, f)
	return cfg, client, err
}

// adminCSV reports whether m is a CSV manifest of admin rows, known from
// its header before any row is read.
func adminCSV(m batch.Manifest) bool {
	csv, ok := m.(*batch.CSV)
	return ok && csv.Admin()
}

// newClient is the Cognito client, with a connection for each worker.
func newClient(cfg aws.Config, f *runFlags) (batch.Client, error) {
	conns := f.workers
	if conns == 0 {
		conns = batch.MaxAutoWorkers
	}
	client, err := batch.NewClient(cfg, f.endpoint, conns)
	if err != nil {
		return nil, usageError{err.Error(), "use an https:// endpoint, or run the emulator on 127.0.0.1"}
	}
	return client, nil
}

// runConfig is the engine's configuration from the flags. defaultRegion,
// the AWS configuration's, serves tokens and pools that name none.
func runConfig(f *runFlags, defaultRegion string, shard batch.Shard, prog *progress) batch.Config {
	return batch.Config{
		Workers: f.workers, RPS: f.rps, Burst: f.burst, MaxAttempts: f.maxAttempts,
		Timeout: f.timeout, MinTokenTTL: f.minTokenTTL, Region: f.region, DefaultRegion: defaultRegion,
		UserPoolID: f.userPoolID, Defaults: f.defaults, DryRun: f.dryRun, MaxFailures: f.maxFailures, Adaptive: f.adaptive,
		Plan: f.plan, SkipUnchanged: f.skipUnchanged, Verify: f.verify, ReadRPS: f.readRPS,
		Log: newLogger(prog.Stderr(), f.logFormat, f.logLevel), Shard: shard, OnResult: prog.Add,
		OnHalt: func(reason string) {
			fmt.Fprintf(prog.Stderr(), "mfabatch: halting because %s; calls in flight finish, and the rows not yet sent are reported not_attempted\n", reason)
		},
	}
}

// settle closes the outputs of a run that has made its calls. An
// interrupt or a halt still closes the report and writes the summary; it
// is returned last, for the exit code.
func settle(sum *batch.Summary, runErr error, outs *outputs, stderr io.Writer) error {
	runErr = reportError(runErr)
	if runErr == nil {
		tell(sum, stderr)
	}
	var stopErr error
	var he *batch.HaltError
	if errors.Is(runErr, context.Canceled) && sum.Interrupted || errors.As(runErr, &he) {
		stopErr, runErr = runErr, nil
	}
	if err := outs.finish(sum); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		runErr = stopErr
	}
	return runErr
}

// tell warns, before the summary, of a run of no rows, and of tokens a
// dry run finds would expire before their turn: with the live run's plan,
// and its advice.
func tell(sum *batch.Summary, stderr io.Writer) {
	switch {
	case sum.Interrupted:
	case sum.Rows == 0 && sum.Shard != "":
		fmt.Fprintf(stderr, "mfabatch: warning: shard %s has no rows of the manifest\n", sum.Shard)
	case sum.Rows == 0:
		fmt.Fprintln(stderr, "mfabatch: warning: the manifest has no rows")
	case sum.WouldExpire != nil && *sum.WouldExpire > 0:
		fmt.Fprintln(stderr, report.PlanLine(sum))
	}
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

// chooseShard picks the shard: --shard, else a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX (its count from --shard-count or
// MFABATCH_SHARD_COUNT), else an AWS Batch array job's index and size;
// at most maxShards of them.
func chooseShard(f *runFlags, getenv func(string) string) (batch.Shard, error) {
	s, err := pickShard(f, getenv)
	if err == nil && s.Count > maxShards {
		if f.shard != "" {
			return batch.Shard{}, usageError{fmt.Sprintf("--shard %q: want I/N with N from 1 to %d", f.shard, maxShards), ""}
		}
		return batch.Shard{}, usageError{fmt.Sprintf("%d shards: want from 1 to %d", s.Count, maxShards), ""}
	}
	return s, err
}

// pickShard is chooseShard, whatever the count.
func pickShard(f *runFlags, getenv func(string) string) (batch.Shard, error) {
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

// readDone reads the report given to --resume, a file or an S3 object;
// nil for none.
func readDone(ctx context.Context, st *storage, path string) (*report.Done, error) {
	if path == "" {
		return nil, nil
	}
	fh, err := openReport(ctx, st, path)
	if err != nil {
		return nil, explained("--resume: ", err, "give the report of the earlier run")
	}
	defer fh.Close()
	done, err := report.ReadDone(fh)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--resume %s: %v", path, err), ""}
	}
	return done, nil
}

func quote(s string) string { return strconv.Quote(s) }
