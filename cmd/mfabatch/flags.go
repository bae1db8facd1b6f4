package main

// The run command's flags: their definitions, the ranges of the number
// flags, and the checks the flag package does not make.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// The number flags' ranges. strconv and time read NaN, infinities and
// values no run means ("--rps Inf" once sent 7,769 calls a second), so
// each flag takes only what a run can use.
const (
	minRPS              = 0.01 // a call every 100s
	maxRPS              = 10000
	maxBurst            = maxRPS
	maxWorkers          = 4096
	maxAttempts         = 100
	minTimeout          = time.Millisecond
	maxTimeout          = time.Hour
	maxMinTokenTTL      = 24 * time.Hour // tokens live a day at most
	minProgressInterval = 100 * time.Millisecond
	maxProgressInterval = 24 * time.Hour
	maxShards           = 100000 // a Kubernetes Indexed Job's completions at most
)

// numberFlag is a flag whose value must be a number in a range. A value
// it refuses is kept in *bad, so the error the person reads names the
// flag and the range the way the tool's other errors do.
type numberFlag struct {
	name string
	want string            // the values allowed, for the error
	set  func(string) bool // stores s's value; false when s is not allowed
	show func() string
	bad  *error
}

func (n numberFlag) String() string {
	if n.show == nil {
		return ""
	}
	return n.show()
}

func (n numberFlag) Set(s string) error {
	if n.set(strings.TrimSpace(s)) {
		return nil
	}
	err := usageError{fmt.Sprintf("--%s %q: want %s", n.name, s, n.want), ""}
	*n.bad = err
	return err
}

// numberFlags defines a flag set's number flags and keeps the first value
// refused.
type numberFlags struct {
	fs  *flag.FlagSet
	bad error
}

// add defines a number flag. Its help names the value between
// backquotes, as flag.PrintDefaults shows it: "-burst N".
func (nf *numberFlags) add(name, want, help string, set func(string) bool, show func() string) {
	nf.fs.Var(numberFlag{name: name, want: want, set: set, show: show, bad: &nf.bad}, name, help)
}

// float defines a number flag; ok says which values it takes, want and
// allowed say them in an error and in the help.
func (nf *numberFlags) float(p *float64, name string, def float64, usage, want, allowed string, ok func(float64) bool) {
	*p = def
	nf.add(name, want, usage+": `N` "+allowed, func(s string) bool {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !ok(v) {
			return false
		}
		*p = v
		return true
	}, func() string { return strconv.FormatFloat(*p, 'g', -1, 64) })
}

// int defines a whole-number flag from lo to hi.
func (nf *numberFlags) int(p *int, name string, def, lo, hi int, usage string) {
	*p = def
	want := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	help := fmt.Sprintf("%s: `N` from %d to %d", usage, lo, hi)
	nf.add(name, want, help, func(s string) bool {
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return false
		}
		*p = v
		return true
	}, func() string {
		if *p == 0 {
			return "" // not given, as --shard-count's default
		}
		return strconv.Itoa(*p)
	})
}

// duration defines a duration flag from lo to hi.
func (nf *numberFlags) duration(p *time.Duration, name string, def, lo, hi time.Duration, usage string) {
	*p = def
	want := fmt.Sprintf("a duration from %s to %s, such as %s", shortDuration(lo), shortDuration(hi), shortDuration(def))
	help := fmt.Sprintf("%s: `D` from %s to %s", usage, shortDuration(lo), shortDuration(hi))
	nf.add(name, want, help, func(s string) bool {
		v, err := time.ParseDuration(s)
		if err != nil || v < lo || v > hi {
			return false
		}
		*p = v
		return true
	}, func() string { return shortDuration(*p) })
}

// workers defines --workers: auto (0) or a count.
func (nf *numberFlags) workers(p *int, usage string) {
	want := fmt.Sprintf("auto or a whole number from 1 to %d", maxWorkers)
	help := fmt.Sprintf("%s: `N` from 1 to %d, or auto", usage, maxWorkers)
	nf.add("workers", want, help, func(s string) bool {
		if s == "auto" {
			*p = 0
			return true
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxWorkers {
			return false
		}
		*p = v
		return true
	}, func() string {
		if *p == 0 {
			return "auto"
		}
		return strconv.Itoa(*p)
	})
}

// threshold defines --max-failures: N, N% or off.
func (nf *numberFlags) threshold(p *batch.Threshold, def batch.Threshold, usage string) {
	*p = def
	nf.add("max-failures", "N (a whole number from 1), N% (more than 0, at most 100) or off", usage, func(s string) bool {
		t, err := batch.ParseThreshold(s)
		if err != nil {
			return false
		}
		*p = t
		return true
	}, func() string { return p.String() })
}

// shortDuration writes d without zero units: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// runFlags are the run command's flags.
type runFlags struct {
	format, reportPath, reportFormat, summaryPath string
	resume, logFormat, shard, order               string
	shardCount                                    int
	logLevel                                      slog.Level
	dryRun, adaptive                              bool
	plan, skipUnchanged, verify                   bool
	maxFailures                                   batch.Threshold
	rps, readRPS                                  float64
	burst, workers, maxAttempts                   int
	timeout, minTokenTTL                          time.Duration
	region, profile, endpoint, userPoolID         string
	caBundle, sseKMSKeyID                         string
	metricsFile, metricsPush                      string
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
	fs.Usage = func() {}
	nf := defineRunFlags(fs, f)
	positional, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: mfabatch run [flags] MANIFEST\n\nflags:")
		fs.PrintDefaults()
		return nil, "", err
	} else if nf.bad != nil {
		return nil, "", nf.bad
	} else if err != nil {
		return nil, "", usageError{err.Error(), "run 'mfabatch run -h' for the flags"}
	}
	if err := checkRunFlags(f, positional); err != nil {
		return nil, "", err
	}
	return f, positional[0], nil
}

// parseArgs parses args with fs and returns the arguments that are not
// flags. Flags may come after them too, as users type them.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// defineRunFlags defines run's flags on fs, read into f. The number flags
// keep their first error in the numberFlags returned.
func defineRunFlags(fs *flag.FlagSet, f *runFlags) *numberFlags {
	fs.StringVar(&f.format, "format", "", "manifest format: csv, jsonl, json or yaml (default: from the file name; for - the content)")
	fs.StringVar(&f.reportPath, "report", "-", "where the report goes (- for standard output)")
	fs.StringVar(&f.reportFormat, "report-format", "", "report format: csv or jsonl (default: from --report's name, else csv)")
	fs.StringVar(&f.summaryPath, "summary", "", "also write the run summary as JSON to this file")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check every row and show every request; send nothing")
	fs.BoolVar(&f.plan, "plan", false, "read each row's MFA state and report what its write would change (before, after, action); write nothing")
	fs.BoolVar(&f.skipUnchanged, "skip-unchanged", false, "read each row's MFA state first; a user already as the row asks is skipped (Unchanged) with no write")
	fs.BoolVar(&f.verify, "verify", false, "read the state back after each write; a row whose state is not as asked fails (NotApplied)")
	fs.StringVar(&f.resume, "resume", "", "skip rows that succeeded in this earlier report (CSV or JSONL)")
	nf := &numberFlags{fs: fs}
	nf.threshold(&f.maxFailures, batch.Threshold{Percent: 50}, "halt when more than `N` rows, or N% (more than 0, at most 100) of rows sent (checked from 100 on), have failed; off never halts")
	fs.BoolVar(&f.adaptive, "adaptive", true, "slow down when throttled, recover slowly, never above --rps")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	fs.StringVar(&f.order, "order", "manifest", "manifest (the file's order) or expiry: a file's rows soonest-expiring token first")
	fs.StringVar(&f.shard, "shard", "", "run only rows with (row - 1) mod N == I (default: from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX)")
	nf.int(&f.shardCount, "shard-count", 0, 1, maxShards, "N for a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (default: MFABATCH_SHARD_COUNT)")
	f.logLevel = slog.LevelInfo
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log level: debug (every attempt), info, warn or error")
	f.progress = progressAuto
	fs.Var(progressFlag{&f.progress}, "progress", "progress on standard error: auto (a bar at a terminal, else log), bar, log or off")
	nf.duration(&f.progressInterval, "progress-interval", 30*time.Second, minProgressInterval, maxProgressInterval, "time between progress lines in log mode")
	nf.float(&f.rps, "rps", 10, "requests per second per region, retries included",
		"0 (unlimited) or a number from 0.01 to 10000", "from 0.01 to 10000, or 0 for unlimited",
		func(v float64) bool { return v == 0 || v >= minRPS && v <= maxRPS })
	nf.float(&f.readRPS, "read-rps", 20, "reads of users' state (GetUser, AdminGetUser) per second per region, retries included, apart from --rps",
		"0 (unlimited) or a number from 0.01 to 10000", "from 0.01 to 10000, or 0 for unlimited",
		func(v float64) bool { return v == 0 || v >= minRPS && v <= maxRPS })
	nf.int(&f.burst, "burst", 1, 1, maxBurst, "limiter burst")
	nf.workers(&f.workers, "concurrent calls per region; auto keeps as many as --rps needs at the latency seen")
	nf.int(&f.maxAttempts, "max-attempts", 5, 1, maxAttempts, "attempts per row, the first included")
	nf.duration(&f.timeout, "timeout", 10*time.Second, minTimeout, maxTimeout, "limit for one attempt")
	nf.duration(&f.minTokenTTL, "min-token-ttl", 5*time.Second, 0, maxMinTokenTTL, "do not send a token expiring within this of its dispatch")
	fs.StringVar(&f.region, "region", "", "Cognito region for tokens whose issuer names none (default: the AWS config's); rows from another region are invalid")
	fs.StringVar(&f.userPoolID, "user-pool-id", "", "admin mode: the user pool of rows with no user_pool_id; rows and tokens of another pool are invalid (UserNotInPool)")
	fs.StringVar(&f.profile, "profile", "", "AWS shared-config profile")
	fs.StringVar(&f.endpoint, "endpoint-url", "", "send to this endpoint instead (emulators, tests)")
	fs.StringVar(&f.sseKMSKeyID, "sse-kms-key-id", "", "encrypt the S3 objects the run writes with this KMS key (default: SSE-S3, AES256)")
	fs.StringVar(&f.caBundle, "ca-bundle", "", "trust the CA certificates in this PEM file (default: AWS_CA_BUNDLE, else the profile's ca_bundle)")
	fs.StringVar(&f.metricsFile, "metrics-file", "", "write Prometheus metrics to this file for node_exporter's textfile collector, every --progress-interval and at the end")
	fs.StringVar(&f.metricsPush, "metrics-push", "", "push Prometheus metrics to this Pushgateway `URL` (push-add, job mfabatch), every --progress-interval and at the end")
	fs.Var(factorFlag{&f.defaults.SMS, false}, "sms-mfa-settings", "default SMS block, e.g. Enabled=true,PreferredMfa=false")
	fs.Var(factorFlag{&f.defaults.SoftwareToken, false}, "software-token-mfa-settings", "default TOTP block")
	fs.Var(factorFlag{&f.defaults.Email, false}, "email-mfa-settings", "default email block")
	fs.Var(factorFlag{&f.defaults.WebAuthn, true}, "web-authn-mfa-settings", "default passkey block (Enabled only)")
	return nf
}

// checkRunFlags checks what the flag package does not: one manifest, and
// the flags that take one of a few words.
func checkRunFlags(f *runFlags, positional []string) error {
	switch {
	case len(positional) == 0:
		return usageError{"no manifest given", "mfabatch run [flags] MANIFEST (- reads standard input)"}
	case len(positional) > 1:
		return usageError{fmt.Sprintf("one manifest at a time, got %d: %s", len(positional), strings.Join(positional, " ")), ""}
	}
	switch {
	case f.plan && f.dryRun:
		return usageError{"--plan and --dry-run together: a dry run sends nothing, a plan reads each user's state", "use --plan to see what would change, --dry-run to check the manifest offline"}
	case f.plan && (f.skipUnchanged || f.verify):
		return usageError{"--plan writes nothing, so --skip-unchanged and --verify have nothing to do", ""}
	case f.dryRun && (f.skipUnchanged || f.verify):
		return usageError{"--dry-run sends nothing, not even the reads --skip-unchanged and --verify make", "use --plan to read the state without writing"}
	}
	if f.order != "manifest" && f.order != "expiry" {
		return usageError{fmt.Sprintf("--order %q: want manifest or expiry", f.order), ""}
	}
	if f.userPoolID != "" {
		if err := batch.CheckUserPoolID(f.userPoolID); err != nil {
			return usageError{fmt.Sprintf("--user-pool-id: %v", err), ""}
		}
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return usageError{fmt.Sprintf("--log-format %q: want text or json", f.logFormat), ""}
	}
	switch f.format {
	case "", "csv", "jsonl", "json", "yaml":
	default:
		return usageError{fmt.Sprintf("--format %q: want csv, jsonl, json or yaml", f.format), ""}
	}
	if f.reportFormat != "" && f.reportFormat != "csv" && f.reportFormat != "jsonl" {
		return usageError{fmt.Sprintf("--report-format %q: want csv or jsonl", f.reportFormat), ""}
	}
	return nil
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
