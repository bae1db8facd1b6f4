// Command mfabatch applies Amazon Cognito user-pool MFA preferences in bulk:
// it reads a manifest of access tokens and desired settings, calls
// SetUserMFAPreference for each row through a rate-limited worker pool with
// retries, and writes a report with one row per manifest row.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"
)

// Exit codes: the one table of them.
const (
	exitOK         = 0   // every row succeeded (dry run: every row would go through)
	exitRows       = 1   // some row failed, was invalid, or was not attempted
	exitNotSent    = 2   // nothing was sent: usage, manifest, header, endpoint or path error
	exitHalted     = 3   // halted by the failure threshold
	exitUnrecorded = 4   // the report or summary could not be written after calls were made
	exitSIGHUP     = 129 // interrupted by SIGHUP
	exitSIGINT     = 130 // interrupted by SIGINT
	exitSIGTERM    = 143 // interrupted by SIGTERM
)

func main() {
	// The live heap stays small (the duplicate-user index is some 20 bytes
	// a user): collecting less often saves CPU on every row, and a soft
	// limit keeps the heap from growing past what a run needs. GOGC and
	// GOMEMLIMIT, when set, win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// A hang-up stops the run as SIGTERM does, unless the run was started
	// to outlive its terminal (nohup).
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Notify(sigs, syscall.SIGHUP)
	}
	// A closed pipe (mfabatch run ... | head -1) fails the report's
	// write, which stops the run and says so, rather than killing it.
	signal.Ignore(syscall.SIGPIPE)
	go func() {
		s := <-sigs
		if term.IsTerminal(int(os.Stderr.Fd())) {
			fmt.Fprint(os.Stderr, "\r\x1b[2K") // over a progress bar
		}
		fmt.Fprintf(os.Stderr, "mfabatch: %v: finishing calls in flight (within --timeout); again to stop at once\n", s)
		cancel(signalError{s})
		// A second signal stops at once. The report file holds whole rows
		// only: rows are written out whole.
		s = <-sigs
		fmt.Fprintf(os.Stderr, "mfabatch: %v again: stopping at once\n", s)
		os.Exit(interruptCode(ctx))
	}()
	os.Exit(cli(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// softMemoryLimit is the heap the collector aims to stay under.
const softMemoryLimit = 48 << 20

// signalError is the cause of a run cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// interruptCode is the exit code for a run that ctx's signal interrupted.
func interruptCode(ctx context.Context) int {
	var se signalError
	errors.As(context.Cause(ctx), &se)
	switch se.sig {
	case syscall.SIGHUP:
		return exitSIGHUP
	case syscall.SIGTERM:
		return exitSIGTERM
	}
	return exitSIGINT
}

// interrupted reports whether a signal cancelled ctx.
func interrupted(ctx context.Context) bool {
	var se signalError
	return errors.As(context.Cause(ctx), &se)
}

const usage = `usage:
  mfabatch run [flags] MANIFEST        MANIFEST: CSV, JSON Lines, JSON or YAML; a path, s3://, or - for stdin
  mfabatch export --user-pool-id ID    write an admin manifest of a pool's users and their MFA state
  mfabatch rollback [--manifest M] [--output PATH] REPORT
                                       a manifest that puts back what the run of REPORT changed
  mfabatch skeleton input|output|csv|jsonl|yaml-input|admin-input|admin-csv|admin-jsonl
  mfabatch version

Run 'mfabatch run -h', 'mfabatch export -h' or 'mfabatch rollback -h' for the flags.
`

// cli runs one command line and returns its exit code.
func cli(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitNotSent
	}
	var err error
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdin, stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case "rollback":
		return rollbackCmd(ctx, args[1:], stdin, stdout, stderr)
	case "skeleton":
		err = skeletonCmd(args[1:], stdout)
	case "version":
		err = versionCmd(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0]), "the commands are run, export, rollback, skeleton and version"}
	}
	if err != nil {
		printError(stderr, err)
		return exitNotSent
	}
	return exitOK
}

// usageError is a command line the tool cannot run, with a hint.
type usageError struct{ msg, hint string }

func (e usageError) Error() string { return e.msg }

// explained is err as a usageError whose message begins with what: with
// err's own hint, if it is a usageError, else with hint.
func explained(what string, err error, hint string) usageError {
	var ue usageError
	if errors.As(err, &ue) {
		hint = ue.hint
	}
	return usageError{what + err.Error(), hint}
}

// printError prints err, and its hint if it has one, the way a person reads it.
func printError(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "mfabatch: error: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) && ue.hint != "" {
		fmt.Fprintf(stderr, "mfabatch: hint: %s\n", ue.hint)
	}
}
