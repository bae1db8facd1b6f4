package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// fake is a fake Cognito (batch/cognitotest) served by a child process:
// this same program run with -serve. It is kept out of the harness for
// memory's sake: the server keeps every call's body, and on Linux a
// child's ru_maxrss starts from its parent's peak RSS (exec records the
// shared pre-exec memory), so a harness swollen by 200,000 bodies would
// be charged to the tool.
type fake struct {
	URL string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	done   bool
}

// stats is what the fake server saw, reported when it stops.
type stats struct {
	Calls       int           `json:"calls"`
	Span        time.Duration `json:"span"`         // first arrival to last
	MaxIn1s     int           `json:"max_in_1s"`    // busiest one-second window
	FirstSecond int           `json:"first_second"` // calls within a second of the first
}

// startFake starts a fake Cognito that answers every call with success
// after delay.
func startFake(delay time.Duration) (*fake, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", "-delay", delay.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fake Cognito: %w", err)
	}
	f := &fake{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	line, err := f.stdout.ReadString('\n')
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("fake Cognito did not start: %v", err)
	}
	f.URL = strings.TrimSpace(line)
	return f, nil
}

// stop shuts the server down and returns what it saw. Calls after the
// first return nothing, so it can also be deferred for clean-up.
func (f *fake) stop() (stats, error) {
	var st stats
	if f.done {
		return st, nil
	}
	f.done = true
	f.stdin.Close() // the server's cue to stop and report
	err := json.NewDecoder(f.stdout).Decode(&st)
	if werr := f.cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return st, fmt.Errorf("fake Cognito: %v", err)
	}
	return st, nil
}

// serve is the -serve mode: it prints the server's URL, serves until its
// standard input closes (the harness is done, or gone), then prints the
// stats as JSON.
func serve(delay time.Duration) int {
	var decide func(cognitotest.Call) cognitotest.Reply
	if delay > 0 {
		decide = func(cognitotest.Call) cognitotest.Reply { return cognitotest.Reply{Delay: delay} }
	}
	srv := cognitotest.NewServer(decide)
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	if err := json.NewEncoder(os.Stdout).Encode(statsOf(srv)); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable -serve:", err)
		return 1
	}
	return 0
}

func statsOf(srv *cognitotest.Server) stats {
	calls := srv.Calls()
	if len(calls) == 0 {
		return stats{}
	}
	first := calls[0].At
	st := stats{
		Calls:   len(calls),
		Span:    calls[len(calls)-1].At.Sub(first),
		MaxIn1s: srv.MaxInWindow(time.Second),
	}
	for _, c := range calls {
		if c.At.Sub(first) < time.Second {
			st.FirstSecond++
		}
	}
	return st
}
