package main

// mfabatch export: a pool's users as an admin manifest, with each user's
// MFA state, so that running the manifest restores it.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/prometheus/client_golang/prometheus"
)

// exportCmd is "mfabatch export": it returns the exit code.
//
// Its exit codes: 0 every user listed is in the output; 2 nothing was
// written (a usage error, no credentials, no such pool or group, a bad
// filter; the output's path is as it was); 3 the export stopped at an
// error after rows were written (the output holds them whole; --resume
// goes on); 4 the output or its checkpoint could not be written (a full
// disk); 129/130/143 a signal (the output ends after a whole row).
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseExportFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitNotSent
	}
	e := &exporting{f: f, args: args, stdout: stdout, stderr: stderr}
	err = e.run(ctx)
	code := e.exit(ctx, err)
	if e.sum != nil {
		e.met.finish(&batch.Summary{}, code)
	}
	return code
}

// exporting is one export command: what it opened, and how far it got.
type exporting struct {
	f              *exportFlags
	args           []string
	stdout, stderr io.Writer

	client  *cip.Client
	region  string
	out     *exportOutput
	summary dest // --summary's file; nil without
	met     *metrics
	sum     *batch.ExportSummary // nil until the export starts
}

// exportLabels label an export's metrics, apart from a run's.
var exportLabels = prometheus.Labels{"command": "export"}

// run does the export, and closes what it opened.
func (e *exporting) run(ctx context.Context) error {
	st, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	if e.out, err = e.openOutput(ctx, st); err != nil {
		return err
	}
	if e.f.run.summaryPath != "" {
		if e.summary, err = createOutput(ctx, st, e.f.run.summaryPath, false); err != nil {
			e.out.abandon()
			return explained("cannot create the summary: ", err, "give --summary a file in a folder that exists and that you can write")
		}
	}
	e.met = newMetrics(e.f.run, e.stderr)
	if err := e.met.openLabeled(ctx, st, exportLabels); err != nil {
		e.discard()
		return err
	}
	runErr := e.export(ctx)
	err = e.out.finish(e.sum)
	if err != nil {
		err = &batch.OutputError{Err: err}
	}
	if e.out.committed {
		e.tell() // an export that wrote nothing has its error to say
	}
	if serr := e.writeSummary(); serr != nil && err == nil {
		err = &batch.OutputError{Err: fmt.Errorf("summary: %w", serr)}
	}
	return errors.Join(runErr, err)
}

// prepare checks the paths, finds the credentials and the region, and
// makes the client, before any call.
func (e *exporting) prepare(ctx context.Context) (*storage, error) {
	out, _ := e.stdout.(*os.File)
	err := checkRoles(e.f.run, []fileRole{
		{"output", e.f.output, out},
		{"summary", e.f.run.summaryPath, nil},
		{"metrics-file", e.f.run.metricsFile, nil},
	})
	if err != nil {
		return nil, err
	}
	setup := &awsSetup{f: e.f.run}
	cfg, err := setup.load(ctx)
	if err != nil {
		return nil, err
	}
	if e.region, err = exportRegion(e.f, cfg.Region); err != nil {
		return nil, err
	}
	if err := setup.check(ctx); err != nil {
		return nil, err
	}
	e.client, err = batch.NewClient(cfg, e.f.run.endpoint, batch.MaxAutoWorkers)
	if err != nil {
		return nil, usageError{err.Error(), "use an https:// endpoint, or run the emulator on 127.0.0.1"}
	}
	e.f.run.sseKMSKeyID = strings.TrimSpace(e.f.run.sseKMSKeyID)
	return &storage{setup: setup, kmsKey: e.f.run.sseKMSKeyID}, nil
}

// exportRegion is where the pool's calls go: the region its ID begins
// with, else --region, else the AWS configuration's.
func exportRegion(f *exportFlags, configured string) (string, error) {
	region := batch.PoolRegion(f.pool)
	switch {
	case region != "" && f.run.region != "" && f.run.region != region:
		return "", usageError{fmt.Sprintf("--region %s: pool %s is in %s", f.run.region, f.pool, region), "leave --region out: a pool ID begins with its region"}
	case region != "":
		return region, nil
	case f.run.region != "":
		return f.run.region, nil
	case configured != "":
		return configured, nil
	}
	return "", usageError{fmt.Sprintf("pool %s names no region, and no region is configured", f.pool), "pass --region with the pool's region"}
}

// openOutput opens the output: a new one, or, with --resume, the file
// of the export that stopped.
func (e *exporting) openOutput(ctx context.Context, st *storage) (*exportOutput, error) {
	if !e.f.resume {
		return newOutput(ctx, st, e.f, e.stdout, e.stderr)
	}
	return resumeOutput(e.f)
}

// discard closes the outputs of an export that ends before its first call.
func (e *exporting) discard() {
	e.out.abandon()
	if e.summary != nil {
		e.summary.abandon()
	}
}

// export runs the engine, with the plan line before it, progress while
// it goes, and metrics.
func (e *exporting) export(ctx context.Context) error {
	w, err := e.out.writer()
	if err != nil {
		return err
	}
	prog := newProgress(e.f.run, e.stdout, e.stderr)
	prog.words = exportWords
	cfg := e.config(prog)
	if e.met != nil {
		e.met.out, cfg.OnCall = prog.Stderr(), e.met.call
	}
	total := e.plan(ctx, prog.Stderr())
	prog.Start(int64(total))
	e.met.start(e.f.run.progressInterval)
	e.sum, err = (&batch.Exporter{Client: e.client, Config: cfg}).Run(ctx, w)
	prog.Stop()
	e.met.halt()
	return err
}

// exportWords are what an export's progress counts.
var exportWords = &progressWords{unit: "users", counts: [3]string{"written", "", "vanished"}}

// config is the engine's configuration from the flags.
func (e *exporting) config(prog *progress) batch.ExportConfig {
	f := e.f
	cfg := batch.ExportConfig{
		UserPoolID: f.pool, Region: e.region, Filter: f.filter, Group: f.group, NoState: f.noState,
		ReadRPS: f.run.readRPS, ListRPS: batch.ListPagesPerSecond, Adaptive: f.run.adaptive,
		MaxAttempts: f.run.maxAttempts, Timeout: f.run.timeout, Start: e.out.mark.Next,
		OnPage: e.out.page, Log: newLogger(prog.Stderr(), f.run.logFormat, f.run.logLevel),
		OnUser: func(written bool) {
			status := batch.StatusSkipped
			if written {
				status = batch.StatusSucceeded
			}
			prog.Add(batch.Result{Status: status})
		},
	}
	if e.out.written != nil {
		cfg.Written = e.out.written.Has
	}
	return cfg
}

// plan says on stderr what the export will do, and returns how many
// users it expects to write: the pool's estimate, when it lists the
// whole pool (0 when unknown).
func (e *exporting) plan(ctx context.Context, stderr io.Writer) int {
	f := e.f
	var b strings.Builder
	fmt.Fprintf(&b, "mfabatch: export: pool %s", f.pool)
	total := 0
	if f.filter == "" && f.group == "" {
		total = e.estimate(ctx)
	}
	if total > 0 {
		fmt.Fprintf(&b, " (about %d users)", total)
	}
	switch {
	case f.filter != "":
		fmt.Fprintf(&b, ", users matching --filter %s", quote(f.filter))
	case f.group != "":
		fmt.Fprintf(&b, ", members of group %s", quote(f.group))
	default:
		b.WriteString(", every user")
	}
	fmt.Fprintf(&b, ", listed at %d pages/s", batch.ListPagesPerSecond)
	rate := float64(batch.ListPagesPerSecond * batch.PageSize)
	switch {
	case f.noState:
		b.WriteString("; no MFA state (--no-state)")
	case f.run.readRPS == 0:
		b.WriteString("; MFA state read with AdminGetUser, unpaced (--read-rps 0)")
		rate = 0
	default:
		fmt.Fprintf(&b, "; MFA state read with AdminGetUser at %g reads/s", f.run.readRPS)
		rate = min(rate, f.run.readRPS)
	}
	if w := e.out.written; w != nil {
		fmt.Fprintf(&b, "; going on after the %d rows in %s", w.Rows, f.output)
		if e.out.relist {
			b.WriteString(", listing again from the start: the file has fewer rows than its checkpoint counts")
		}
		total = max(total-w.Rows, 0)
	}
	if total > 0 && rate > 0 {
		fmt.Fprintf(&b, ": about %s", shortDuration(time.Duration(math.Ceil(float64(total)/rate))*time.Second))
	}
	fmt.Fprintln(stderr, b.String())
	return total
}

// estimate is the pool's estimated number of users, from
// DescribeUserPool; 0 when it cannot be had.
func (e *exporting) estimate(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, e.f.run.timeout)
	defer cancel()
	out, err := e.client.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: &e.f.pool},
		func(o *cip.Options) { o.Region = e.region })
	if err != nil || out.UserPool == nil {
		return 0
	}
	return max(int(out.UserPool.EstimatedNumberOfUsers), 0)
}

// tell writes the summary line: what the export wrote, and how fast.
func (e *exporting) tell() {
	s := e.sum
	if s == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mfabatch: export: %s written to %s in %s: %s, ", plural(s.Users, "user"), e.outputName(),
		shortDuration(s.Elapsed.Round(100*time.Millisecond)), plural(s.Pages, "page"))
	if e.f.noState {
		b.WriteString("no reads")
	} else {
		fmt.Fprintf(&b, "%s (%.1f reads/s)", plural(s.Reads, "read"), s.ReadsPerSecond())
	}
	if s.Vanished > 0 {
		fmt.Fprintf(&b, ", %d vanished (deleted before they were read: left out)", s.Vanished)
	}
	if w := e.out.written; w != nil {
		fmt.Fprintf(&b, "; %s in all", plural(e.out.rows(s), "row"))
	}
	if s.Restarted {
		b.WriteString("; the checkpoint's page was refused, so the pool was listed again from the start, the users already written left out")
	}
	fmt.Fprintln(e.stderr, b.String())
}

// outputName is the output as messages name it.
func (e *exporting) outputName() string {
	if e.f.output == "-" {
		return "standard output"
	}
	return e.f.output
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// exportSummary is --summary's JSON.
type exportSummary struct {
	Users          int     `json:"users"`
	Rows           int     `json:"rows"` // in the output: a resumed export's earlier rows too
	Pages          int     `json:"pages"`
	ListCalls      int     `json:"list_calls"`
	Reads          int     `json:"reads"`
	Vanished       int     `json:"vanished"`
	Elapsed        float64 `json:"elapsed_seconds"`
	ReadsPerSecond float64 `json:"reads_per_second"`
	Complete       bool    `json:"complete"`
	Interrupted    bool    `json:"interrupted,omitempty"`
}

// writeSummary writes --summary, if given.
func (e *exporting) writeSummary() error {
	if e.summary == nil {
		return nil
	}
	if e.sum == nil {
		e.summary.abandon()
		return nil
	}
	s := e.sum
	js := exportSummary{Users: s.Users, Rows: e.out.rows(s), Pages: s.Pages, ListCalls: s.Lists, Reads: s.Reads,
		Vanished: s.Vanished, Elapsed: math.Round(s.Elapsed.Seconds()*1000) / 1000,
		ReadsPerSecond: math.Round(s.ReadsPerSecond()*10) / 10, Complete: e.out.mark.Complete, Interrupted: s.Interrupted}
	b, err := json.MarshalIndent(js, "", "  ")
	if err == nil {
		_, err = e.summary.Write(append(b, '\n'))
	}
	return errors.Join(err, e.summary.close())
}

// exit prints how the export ended, and returns its exit code.
func (e *exporting) exit(ctx context.Context, err error) int {
	var oe *batch.OutputError
	wrote := e.out != nil && e.out.committed
	switch {
	case errors.Is(err, errComplete):
		fmt.Fprintf(e.stderr, "mfabatch: export: the export to %s is complete (%s): nothing to go on with\n", e.f.output, plural(e.out.mark.Rows, "row"))
		if rerr := os.Remove(checkpointPath(e.f.output)); rerr != nil {
			printError(e.stderr, rerr)
		}
		return exitOK
	case errors.As(err, &oe):
		kept := "nothing was written"
		if wrote {
			kept = fmt.Sprintf("the output holds %s written out before, each whole", plural(e.out.rows(e.sum), "row"))
		}
		printError(e.stderr, usageError{"output: " + oe.Error() + "; " + kept, e.goOn()})
		return exitUnrecorded
	case e.sum != nil && e.sum.Interrupted || e.sum == nil && interrupted(ctx):
		fmt.Fprintf(e.stderr, "mfabatch: export interrupted: %s\n", e.kept())
		if hint := e.goOn(); wrote && hint != "" {
			fmt.Fprintf(e.stderr, "mfabatch: hint: %s\n", hint)
		}
		return interruptCode(ctx)
	case err != nil && !wrote:
		printError(e.stderr, e.problem(err))
		return exitNotSent
	case err != nil:
		ue := e.problem(err)
		ue.msg += "; " + e.kept()
		ue.hint = strings.TrimPrefix(ue.hint+"; then "+e.goOn(), "; then ")
		printError(e.stderr, ue)
		return exitHalted
	}
	return exitOK
}

// kept says what the output holds after an export that stopped.
func (e *exporting) kept() string {
	if e.out == nil || !e.out.committed {
		if e.f.output == "-" {
			return "nothing was written"
		}
		return "nothing was written: " + e.outputName() + " is as it was"
	}
	return fmt.Sprintf("%s %s, each whole", plural(e.out.rows(e.sum), "row"), map[bool]string{true: "written to " + e.outputName(), false: "in " + e.outputName()}[e.out.written == nil])
}

// goOn says how to go on with an export that stopped.
func (e *exporting) goOn() string {
	if e.out == nil || !e.out.resumable {
		return ""
	}
	args := e.args
	if !e.f.resume {
		args = append(args[:len(args):len(args)], "--resume")
	}
	return "go on with: mfabatch export " + shellWords(args)
}

// shellWords quotes args for a POSIX shell, where they need it.
func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+", r)
		}) {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// problem is err as a person reads it, with a hint for the service's
// errors an export can get.
func (e *exporting) problem(err error) usageError {
	var ue usageError
	if errors.As(err, &ue) {
		return ue
	}
	var xe *batch.ExportError
	if !errors.As(err, &xe) {
		return usageError{err.Error(), ""}
	}
	hint := ""
	switch code := xe.Class.Code; {
	case xe.Class.Credentials:
		hint = "the AWS credentials need cognito-idp:ListUsers (ListUsersInGroup for --group) and cognito-idp:AdminGetUser on the pool"
	case code == "ResourceNotFoundException" && e.f.group != "" && xe.Op == "ListUsersInGroup":
		hint = "check --group (group names are case-sensitive) and --user-pool-id"
	case code == "ResourceNotFoundException":
		hint = "check --user-pool-id: a pool ID begins with its region"
	case code == "InvalidParameterException" && e.f.filter != "" && xe.Op == "ListUsers":
		hint = filterHint
	}
	return usageError{err.Error(), hint}
}

// filterHint is ListUsers' filter syntax.
const filterHint = `a filter is ATTRIBUTE = "VALUE" (equals) or ATTRIBUTE ^= "VALUE" (starts with), on one of username, email, phone_number, name, given_name, family_name, preferred_username, cognito:user_status, status or sub: e.g. --filter 'email ^= "a"'`
