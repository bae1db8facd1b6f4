package main

// Script commands for operator slips: a background run's stderr watched
// as it comes, a report read by "head", and named pipes.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func cmdWaitstderr(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitstderr REGEXP")
	}
	if s.bg == nil {
		ts.Fatalf("waitstderr: no background mfabatch run")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	bg := s.bg
	poll(ts, fmt.Sprintf("the background run's stderr to match %q", args[0]), func() bool {
		return re.MatchString(bg.stderr.String())
	})
}

// cmdHeadrun runs the tool with its standard output read as "| head -N"
// reads it: once N lines have come, the pipe is closed.
func cmdHeadrun(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	if len(args) < 2 {
		ts.Fatalf("usage: headrun N ARGS...")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		ts.Fatalf("usage: headrun N ARGS...")
	}
	if s.bg != nil {
		ts.Fatalf("headrun: a background run is still going: waitrun first")
	}
	cmd := s.command(ts, args[1:])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	killer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer killer.Stop()
	var head strings.Builder
	br := bufio.NewReader(out)
	for range n {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			break
		}
	}
	out.Close()
	cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	fmt.Fprint(ts.Stdout(), head.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	s.checkRun(ts, neg, code, head.String(), stderr.String())
}

func cmdFifo(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	want := map[string]int{"make": 2, "open": 2, "write": 3, "read": 3}
	if neg || len(args) == 0 || want[args[0]] != len(args) {
		ts.Fatalf("usage: fifo make|open FIFO, fifo write FIFO FILE, fifo read FIFO OUT")
	}
	name := ts.MkAbs(args[1])
	switch args[0] {
	case "make":
		ts.Check(syscall.Mkfifo(name, 0o644))
		ts.Check(os.Chmod(name, 0o644)) // whatever the umask
	case "open":
		s.fifoWriter(ts, name)
	case "write":
		w := s.fifoWriter(ts, name)
		delete(s.fifos, name)
		_, err := io.WriteString(w, ts.ReadFile(args[2]))
		ts.Check(err)
		ts.Check(w.Close())
	case "read":
		r := openFifoReader(ts, name)
		b, err := io.ReadAll(r)
		r.Close()
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), b, 0o600))
	}
}

// fifoWriter returns the writing end of a named pipe, opened once a
// reader has opened it.
func (s *script) fifoWriter(ts *testscript.TestScript, name string) *os.File {
	if w, ok := s.fifos[name]; ok {
		return w
	}
	var w *os.File
	poll(ts, "a reader of "+name, func() bool {
		var err error
		// Without a reader, a non-blocking open fails with ENXIO.
		w, err = os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil && !errors.Is(err, syscall.ENXIO) {
			ts.Fatalf("fifo: %v", err)
		}
		return err == nil
	})
	if s.fifos == nil {
		s.fifos = map[string]*os.File{}
	}
	s.fifos[name] = w
	return w
}

// openFifoReader opens a named pipe to read, once a writer opens it.
func openFifoReader(ts *testscript.TestScript, name string) *os.File {
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(name) // blocks until a writer opens it
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		ts.Check(o.err)
		return o.f
	case <-time.After(10 * time.Second):
		// Open the writing end, so the open above returns.
		if w, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		if o := <-ch; o.f != nil {
			o.f.Close()
		}
		ts.Fatalf("fifo read: nobody opened %s to write within 10s", name)
		return nil
	}
}
