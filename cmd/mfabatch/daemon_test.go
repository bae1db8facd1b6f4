package main_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// daemon is a server a test started (moto_server, the Pushgateway): it is
// killed, with every process it started, when the test ends.
type daemon struct {
	name    string
	logPath string
	exited  chan struct{}
}

// startDaemon starts bin with args, its output in a log. It has a process
// group of its own, so that the cleanup reaches every process it starts
// (moto_server is a pyenv shim that execs Python).
func startDaemon(t testing.TB, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, logPath: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
		logFile.Close()
	})
	return d
}

// waitReady waits until url answers with a status ready accepts (any,
// when ready is nil), for at most wait.
func (d *daemon) waitReady(t testing.TB, url string, wait time.Duration, ready func(status int) bool) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(wait)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if ready == nil || ready(resp.StatusCode) {
				return
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("%s exited before it was ready:\n%s", d.name, d.log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s after %v: %v\n%s", d.name, url, wait, err, d.log())
		}
	}
}

// log is the end of the daemon's output.
func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
