package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// usage is what one child process cost, from its own rusage: the fake
// server runs in this process, so none of its CPU or memory is counted.
type usage struct {
	wall   time.Duration // from start to exit, as a user waits for it
	cpu    time.Duration // user + system
	maxRSS int64         // peak resident set, in bytes
}

// runChild runs name with args to completion and returns its usage. A
// non-zero exit is an error that quotes the end of the child's output.
func runChild(name string, args ...string) (usage, error) {
	return runChildLogging("", name, args...)
}

// runChildLogging is runChild with the child's standard error written to
// the file logPath, unless it is "".
func runChildLogging(logPath, name string, args ...string) (usage, error) {
	return runChildUntil(nil, logPath, name, args...)
}

// runChildUntil is runChildLogging that interrupts the child (SIGINT) once
// stop is closed: a child that then exits 130, as mfabatch does when
// interrupted, has not failed.
func runChildUntil(stop <-chan struct{}, logPath, name string, args ...string) (usage, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = childEnv()
	out := &tail{max: 2048}
	cmd.Stdout, cmd.Stderr = out, out
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return usage{}, err
		}
		defer f.Close()
		cmd.Stderr = io.MultiWriter(f, out)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-stop:
		_ = cmd.Process.Signal(os.Interrupt)
		if err = <-exited; cmd.ProcessState.ExitCode() == 130 {
			err = nil
		}
	}
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return usage{}, err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	u := usage{
		wall: wall,
		cpu:  time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		// Linux gives ru_maxrss in KiB.
		maxRSS: ru.Maxrss * 1024,
	}
	if err != nil {
		return u, fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(string(out.buf)))
	}
	return u, nil
}

// childEnv is this environment without the user's AWS settings, plus dummy
// credentials and a fixed region: a profile or an IMDS lookup must not
// change what is measured, and nothing may reach a real account.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		// The fake Cognito trusts these for admin calls.
		"AWS_ACCESS_KEY_ID="+cognitotest.TestCredentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+cognitotest.TestCredentials.SecretAccessKey,
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// tail keeps the last max bytes written to it, for error messages: a
// child that logs every row must not fill this process's memory.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// buildTool builds ./cmd/mfabatch into dir, from the module root, and
// returns the binary's path.
func buildTool(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mfabatch")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/mfabatch")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod that holds the working
// directory, so the harness runs from anywhere in the repository.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the mfabatch module: run from the repository")
	}
	return filepath.Dir(mod), nil
}
