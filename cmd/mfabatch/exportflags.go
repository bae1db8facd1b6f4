package main

// The export command's flags. Those it shares with run (the AWS
// connection, retries, progress, logs, metrics, the summary) are run's
// own definitions, taken from run's flag set, so that each reads and
// checks its value one way.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mfabatch/mfabatch/batch"
)

// exportFlags are export's flags; run holds those it shares with run.
type exportFlags struct {
	run *runFlags

	pool, filter, group string
	output, format      string
	noState, resume     bool
}

// sharedFlags are run's flags that export takes, with the help export
// gives them where run's says what only a run does.
var sharedFlags = map[string]string{
	"region":            "Cognito region for a pool ID whose prefix names none (emulators); a pool ID of another region is refused",
	"profile":           "",
	"endpoint-url":      "",
	"ca-bundle":         "",
	"sse-kms-key-id":    "encrypt an s3:// --output or --summary with this KMS key (default: SSE-S3, AES256)",
	"max-attempts":      "attempts per call, the first included: `N` from 1 to 100",
	"timeout":           "",
	"adaptive":          "slow reads and listing down when throttled, recover slowly, never above --read-rps",
	"progress":          "",
	"progress-interval": "",
	"log-level":         "log level: debug (every call), info, warn or error",
	"log-format":        "",
	"summary":           "also write the export's summary as JSON to this file",
	"metrics-file":      "",
	"metrics-push":      "",
	"read-rps":          "AdminGetUser calls per second, retries included: `N` from 0.01 to 10000, or 0 for unlimited",
}

// parseExportFlags reads export's command line. Help (-h) goes to stdout.
func parseExportFlags(args []string, stdout io.Writer) (*exportFlags, error) {
	f := &exportFlags{run: &runFlags{}}
	fs := flag.NewFlagSet("mfabatch export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runFS := flag.NewFlagSet("mfabatch run", flag.ContinueOnError)
	shared := defineRunFlags(runFS, f.run)
	runFS.VisitAll(func(fl *flag.Flag) {
		if usage, ok := sharedFlags[fl.Name]; ok {
			fs.Var(fl.Value, fl.Name, cmpUsage(usage, fl.Usage))
		}
	})
	own := defineExportFlags(fs, f)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: mfabatch export --user-pool-id ID [flags]\n\nflags:")
		fs.PrintDefaults()
		return nil, err
	case shared.bad != nil:
		return nil, shared.bad
	case own.bad != nil:
		return nil, own.bad
	case err != nil:
		return nil, usageError{err.Error(), "run 'mfabatch export -h' for the flags"}
	case fs.NArg() > 0:
		return nil, usageError{fmt.Sprintf("export takes flags only, not %q", fs.Arg(0)), "mfabatch export --user-pool-id ID [--output PATH]"}
	}
	f.run.reportPath = f.output // where progress's auto mode looks for a terminal
	return f, checkExportFlags(f)
}

func cmpUsage(usage, fallback string) string {
	if usage == "" {
		return fallback
	}
	return usage
}

// defineExportFlags defines export's own flags on fs.
func defineExportFlags(fs *flag.FlagSet, f *exportFlags) *numberFlags {
	fs.StringVar(&f.pool, "user-pool-id", "", "the user pool to export (required)")
	fs.StringVar(&f.filter, "filter", "", "export the users ListUsers' filter matches, e.g. 'cognito:user_status = \"CONFIRMED\"' or 'email ^= \"a\"'")
	fs.StringVar(&f.group, "group", "", "export the members of this group (ListUsersInGroup)")
	f.output = "-"
	nf := &numberFlags{fs: fs}
	fs.Var(onceFlag{p: &f.output, bad: &nf.bad}, "output", "where the manifest goes: a file, s3://bucket/key, or - for standard output")
	fs.StringVar(&f.format, "format", "", "manifest format: csv or jsonl (default: from --output's name, else csv)")
	fs.BoolVar(&f.noState, "no-state", false, "leave the MFA columns blank: list the users only, with no AdminGetUser call")
	fs.BoolVar(&f.resume, "resume", false, "go on with an export to --output that stopped, from its last page written")
	return nf
}

// onceFlag is --output, given at most once: a second, other path is
// refused, not silently taken over the first.
type onceFlag struct {
	p   *string
	bad *error
}

func (o onceFlag) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}

func (o onceFlag) Set(s string) error {
	var err error
	switch {
	case s == "":
		err = usageError{"--output \"\": want a path, or - for standard output", ""}
	case *o.p != s && *o.p != "-":
		err = usageError{fmt.Sprintf("--output given twice, as %s and %s", *o.p, s), "give one --output"}
	}
	if err != nil {
		*o.bad = err
		return err
	}
	*o.p = s
	return nil
}

// checkExportFlags checks what the flag package does not.
func checkExportFlags(f *exportFlags) error {
	switch {
	case f.pool == "":
		return usageError{"no --user-pool-id given", "mfabatch export --user-pool-id ID [--output PATH]"}
	case f.filter != "" && f.group != "":
		return usageError{"--filter and --group together: ListUsersInGroup takes no filter", "export the group, or filter the pool's users, not both"}
	case f.resume && (f.output == "-" || isS3(f.output)):
		return usageError{"--resume needs --output to be a local file: it goes on with the file an export to it left", "give --output the file of the export that stopped"}
	}
	if err := batch.CheckUserPoolID(f.pool); err != nil {
		return usageError{fmt.Sprintf("--user-pool-id: %v", err), ""}
	}
	if f.format == "" {
		f.format = batch.FormatCSV
		switch strings.ToLower(filepath.Ext(f.output)) {
		case ".jsonl", ".ndjson":
			f.format = batch.FormatJSONL
		}
	}
	if f.format != batch.FormatCSV && f.format != batch.FormatJSONL {
		return usageError{fmt.Sprintf("--format %q: want csv or jsonl", f.format), ""}
	}
	if f.run.logFormat != "text" && f.run.logFormat != "json" {
		return usageError{fmt.Sprintf("--log-format %q: want text or json", f.run.logFormat), ""}
	}
	return nil
}
