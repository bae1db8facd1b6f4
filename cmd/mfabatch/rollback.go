package main

// The rollback command: from a run's report, a manifest that puts every
// user the run changed back in the state the report's before column shows.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// rollbackFlags are the rollback command's flags.
type rollbackFlags struct {
	manifest, manifestFormat string
	output, format, profile  string
}

// rollbackCmd is "mfabatch rollback": it returns the exit code. Exit 0
// when every row the run changed is in the manifest, 1 when some are left
// out (each named on stderr), 2 when nothing is written.
func rollbackCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, reportPath, err := parseRollbackFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		err = checkRollbackPaths(f, reportPath, stdin, stdout)
	}
	if err == nil && f.manifest != "" && f.output == "-" {
		// Said before the report is read: a token manifest goes to a file.
		err = refuseTerminal(stdout, "standard output")
	}
	if err != nil {
		printError(stderr, err)
		return exitNotSent
	}
	rb := newRollback(f, reportPath, stdin, stderr)
	defer rb.close()
	err = rb.run(ctx, stdout)
	switch {
	case err != nil && interrupted(ctx):
		fmt.Fprintln(stderr, "mfabatch: interrupted: no manifest was written")
		return interruptCode(ctx)
	case err != nil:
		printError(stderr, err)
		return exitNotSent
	case rb.leftOut() > 0:
		return exitRows
	}
	return exitOK
}

// parseRollbackFlags reads rollback's command line. Help (-h) goes to
// stdout, as asked for; errors are returned for the caller to print once.
func parseRollbackFlags(args []string, stdout io.Writer) (*rollbackFlags, string, error) {
	f := &rollbackFlags{}
	fs := flag.NewFlagSet("mfabatch rollback", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.manifest, "manifest", "", "the manifest the run read, for the access tokens of token rows (a path, - or s3://)")
	fs.StringVar(&f.manifestFormat, "manifest-format", "", "--manifest's format: csv, jsonl, json or yaml (default: from its name; for - the content)")
	fs.StringVar(&f.output, "output", "-", "where the manifest goes: a path, - for standard output (never a terminal for tokens), or s3://")
	fs.StringVar(&f.format, "format", "", "manifest format: csv or jsonl (default: from --output's name, else csv)")
	fs.StringVar(&f.profile, "profile", "", "AWS shared-config profile, for s3:// paths")
	positional, err := parseArgs(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: mfabatch rollback [flags] REPORT\n\nREPORT is a run's report, CSV or JSON Lines: a path, - for standard input, or s3://bucket/key.\n\nflags:")
		fs.PrintDefaults()
		return nil, "", err
	case err != nil:
		return nil, "", usageError{err.Error(), "run 'mfabatch rollback -h' for the flags"}
	case len(positional) == 0:
		return nil, "", usageError{"no report given", "mfabatch rollback [--manifest M] [--output PATH] REPORT (- reads standard input)"}
	case len(positional) > 1:
		return nil, "", usageError{fmt.Sprintf("one report at a time, got %d: %s", len(positional), strings.Join(positional, " ")), ""}
	}
	switch f.manifestFormat {
	case "", "csv", "jsonl", "json", "yaml":
	default:
		return nil, "", usageError{fmt.Sprintf("--manifest-format %q: want csv, jsonl, json or yaml", f.manifestFormat), ""}
	}
	if _, err := f.outputFormat(); err != nil {
		return nil, "", err
	}
	return f, positional[0], nil
}

// outputFormat is the manifest's format: --format, else --output's
// extension, else CSV.
func (f *rollbackFlags) outputFormat() (string, error) {
	switch f.format {
	case "csv", "jsonl":
		return f.format, nil
	case "":
	default:
		return "", usageError{fmt.Sprintf("--format %q: want csv or jsonl", f.format), ""}
	}
	switch strings.ToLower(filepath.Ext(f.output)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	case ".yaml", ".yml":
		return "", usageError{fmt.Sprintf("--output %s: rollback writes CSV or JSON Lines, not YAML", f.output), "name the output .csv or .jsonl, or pass --format csv|jsonl"}
	}
	return "csv", nil
}

// checkRollbackPaths refuses, before anything is read, one file in two
// roles: the output over the report or the manifest, the manifest that is
// the report, or standard input read twice. Links are seen through, as
// run's checkPaths does.
func checkRollbackPaths(f *rollbackFlags, reportPath string, stdin io.Reader, stdout io.Writer) error {
	if reportPath == "-" && f.manifest == "-" {
		return usageError{"the report and --manifest cannot both be read from standard input", "give one of them as a file"}
	}
	in, _ := stdin.(*os.File)
	out, _ := stdout.(*os.File)
	roles := []struct {
		name, is string // how messages name the role, and name it as the one another is
		fileRole
	}{
		{"the report", "the report itself", fileRole{path: reportPath, file: in}},
		{"--manifest", "the manifest itself (--manifest " + f.manifest + ")", fileRole{path: f.manifest, file: in}},
		{"--output", "", fileRole{path: f.output, file: out}},
	}
	ids := make([]fileID, len(roles))
	for i, r := range roles {
		if isS3(r.path) {
			if _, err := parseS3(r.path, r.name); err != nil {
				return err
			}
		}
		ids[i] = identify(r.fileRole)
		for j := range i {
			if !ids[i].same(ids[j]) {
				continue
			}
			hint := "write the manifest to another file"
			if i == 1 {
				hint = "give --manifest the manifest the run read"
			}
			return usageError{fmt.Sprintf("%s %s is %s", r.name, r.path, roles[j].is), hint}
		}
	}
	return nil
}

// refuseTerminal refuses to show a manifest of access tokens on a
// terminal, where they stay on the screen and in its scrollback; where
// names w in the message.
func refuseTerminal(w io.Writer, where string) error {
	if !isTerminal(w) {
		return nil
	}
	return usageError{"the manifest holds access tokens, and " + where + " is a terminal: they are not shown there",
		"pass --output FILE (written with mode 0600), or pipe it: mfabatch rollback ... | mfabatch run -"}
}
