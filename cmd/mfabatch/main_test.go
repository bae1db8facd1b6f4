package main

// The CLI's script tests: testdata/*.txtar, run by testscript against the
// real binary (this test binary, run as mfabatch: see init). Each script
// gets its own fake Cognito endpoint, $COGNITO (port $COGNITO_PORT), and an
// AWS environment with no configuration, credentials or metadata service.
// A token's username decides what the endpoint answers (see decide):
// throttleN-, internalN-, unavailableN- (503) and resetN- users fail their
// first N attempts; expired- users get NotAuthorizedException, badparam-
// users InvalidParameterException, notfound- users
// ResourceNotFoundException, forbidden- users ForbiddenException; stall-
// users never get an answer; slow- users get theirs after half a second.
// echo- users get an error quoting their token in its code, message and
// request id, echopiece- users one quoting pieces of it, and echook- users
// a success with the token as its request id.
//
// The scripts' own commands:
//
//	mfabatch ARGS...          run the tool; it must exit 0, or with !, fail
//	                          and be followed by exitcode. Every run's stdout
//	                          and stderr are checked for pieces of the
//	                          script's tokens, races and panics.
//	mfabatch ARGS... &        start the tool in the background, one run at a
//	                          time; waitrun ends it. Its standard input is a
//	                          pipe that stays open until it exits
//	feed FILE                 write FILE to the background run's standard
//	                          input
//	signal HUP|INT|TERM|KILL  send a signal to the background run
//	waitstderr REGEXP         wait (10s at most) until the background run's
//	                          stderr matches REGEXP
//	waitrun [D]               wait for the background run to exit, for at
//	                          most D (default 10s), and check it as if it
//	                          had run in the foreground (exit status 128+N
//	                          when signal N killed it)
//	exitcode N                the last mfabatch run exited with status N
//	waitcalls N               wait (10s at most) until the server has got N
//	                          calls since the last calls
//	waitfor FILE REGEXP       wait (10s at most) until FILE matches REGEXP
//	                          (^ and $ match at line ends too)
//	genmanifest [-format csv|jsonl|api] TEMPLATE OUT
//	                          write a manifest (api: JSON Lines in the API's
//	                          input shape; the default is from OUT's name)
//	                          from a template of lines "LABEL [key=value...]",
//	                          one a row: the token keys (see mintClaims) make
//	                          LABEL's token, every other key is a column; id
//	                          is LABEL unless id= says otherwise. LABEL*N
//	                          stands for N rows, LABEL1 to LABELN
//	cutline FILE N|last       cut line N of FILE short: keep its first half,
//	                          drop the rest and its newline, as a write cut
//	                          mid-line leaves it
//	puttoken FILE TEXT LABEL [key=value...]
//	                          replace TEXT in FILE with LABEL's token
//	report [-partial] FILE [COLUMN...]
//	                          check a CSV or JSONL report (see checkRow) and
//	                          print the columns as a table sorted by row, a
//	                          token's fingerprint shown as fp(LABEL); rows
//	                          are numbered 1 to n, each once (-partial: at
//	                          most once)
//	calls N|MIN-MAX           the server got N (MIN to MAX) calls since the
//	                          last calls; print "LABEL COUNT" for each token
//	                          called
//	bodies [-arrival]         print the bodies of the calls since the last
//	                          calls, each token shown as <token:LABEL>
//	notoken FILE...           no 16 characters of any of the script's tokens
//	                          are in FILE (or stdout, stderr)
//	filemode FILE MODE        FILE's permission bits are MODE, in octal
//	tlsendpoint               serve the endpoint over HTTPS too, at
//	                          $COGNITO_TLS, its certificate signed by a CA
//	                          made for the script (ca.pem; other-ca.pem is
//	                          another CA's); calls then counts its calls
//	headrun N ARGS...         run the tool as "mfabatch ARGS... | head -N":
//	                          its stdout is read until N lines have come,
//	                          then closed; like mfabatch otherwise
//	fifo make FIFO            make a named pipe, mode 0644
//	fifo open FIFO            wait (10s at most) until a reader opens FIFO,
//	                          and keep its writing end open
//	fifo write FIFO FILE      write FILE to FIFO (opening it as fifo open
//	                          does, unless it is open), then close it
//	fifo read FIFO OUT        read FIFO, once a writer opens it (10s at
//	                          most), to its end, into OUT
//
// A label's token is minted once per script, so manifests made from one
// template hold the same tokens.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"github.com/rogpeppe/go-internal/testscript"
)

// The test binary doubles as the tool: TestScripts links it into a bin
// directory as "mfabatch", and run under that name it is the tool, not the
// tests. This is what testscript.Main does; it is not used because the
// builtin command it registers would take the place of the scripts' own
// mfabatch command, which checks every run's exit code and output.
func init() {
	if filepath.Base(os.Args[0]) == "mfabatch" {
		main()
	}
}

func TestScripts(t *testing.T) {
	bindir := filepath.Join(t.TempDir(), "bin")
	if err := installTool(bindir); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                "testdata",
		Setup:              func(env *testscript.Env) error { return setupScript(env, bindir) },
		RequireUniqueNames: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mfabatch":    cmdMfabatch,
			"signal":      cmdSignal,
			"feed":        cmdFeed,
			"waitrun":     cmdWaitrun,
			"exitcode":    cmdExitcode,
			"waitcalls":   cmdWaitcalls,
			"waitfor":     cmdWaitfor,
			"genmanifest": cmdGenmanifest,
			"cutline":     cmdCutline,
			"puttoken":    cmdPuttoken,
			"report":      cmdReport,
			"calls":       cmdCalls,
			"bodies":      cmdBodies,
			"notoken":     cmdNotoken,
			"filemode":    cmdFilemode,
			"tlsendpoint": cmdTLSEndpoint,
			"waitstderr":  cmdWaitstderr,
			"headrun":     cmdHeadrun,
			"fifo":        cmdFifo,
		},
	})
}

// installTool puts the test binary in bindir as mfabatch: a hard link, or
// a copy where linking fails.
func installTool(bindir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bindir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(bindir, "mfabatch")
	if os.Link(self, bin) == nil {
		return nil
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// script is one script's state, shared by its commands.
type script struct {
	srv *cognitotest.Server
	bin string
	env []string // the tool's environment, as set up
	bg  *background

	tokens  map[string]*minted // by label
	byToken map[string]string  // token to label
	byFP    map[string]string  // token fingerprint to label

	fifos      map[string]*os.File // writing ends kept open by fifo open
	ran        bool
	exit       int
	needsCode  bool // a failing run's exit code is still to be checked
	callsSeen  int  // calls already accounted for by the calls command
	windowsFor int  // len(tokens) when windows was built
	windows    map[string]string
}

// minted is a token a script made or wrote, by label.
type minted struct {
	label, token string
	spec         string // the key=value pairs it was made from
}

type scriptKey struct{}

func state(ts *testscript.TestScript) *script {
	return ts.Value(scriptKey{}).(*script)
}

// setupScript starts the script's Cognito endpoint and cuts the tool off
// from any AWS configuration, credentials or metadata service.
func setupScript(env *testscript.Env, bindir string) error {
	srv := cognitotest.NewServer(decide)
	env.Defer(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		return err
	}
	s := &script{
		srv:     srv,
		bin:     filepath.Join(bindir, "mfabatch"),
		tokens:  map[string]*minted{},
		byToken: map[string]string{},
		byFP:    map[string]string{},
	}
	env.Values[scriptKey{}] = s
	env.Defer(func() {
		if s.bg != nil {
			s.bg.cmd.Process.Kill()
			<-s.bg.done
			if t, ok := env.T().(interface{ Failed() bool }); ok && !t.Failed() {
				env.T().Fatal("the script's background mfabatch run needs a waitrun")
			}
		}
	})
	env.Defer(func() {
		if t, ok := env.T().(interface{ Failed() bool }); ok && !t.Failed() && s.needsCode {
			env.T().Fatal("the script's last mfabatch run failed, and needs an exitcode check")
		}
	})

	vars := make([]string, 0, len(env.Vars)+8)
	race := false
	for _, kv := range env.Vars {
		k, v, _ := strings.Cut(kv, "=")
		switch uk := strings.ToUpper(k); {
		case strings.HasPrefix(uk, "AWS_"), strings.HasSuffix(uk, "_PROXY"):
			continue
		case k == "PATH":
			kv = "PATH=" + bindir + string(os.PathListSeparator) + v
		case k == "GORACE":
			race = true
		}
		vars = append(vars, kv)
	}
	none := filepath.Join(env.WorkDir, ".no-aws") // never created
	vars = append(vars,
		"AWS_CONFIG_FILE="+filepath.Join(none, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(none, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"COGNITO="+srv.URL,
		"COGNITO_PORT="+u.Port(),
	)
	if !race {
		// A race-enabled binary otherwise sleeps a second at every exit.
		vars = append(vars, "GORACE=atexit_sleep_ms=10")
	}
	env.Vars = vars
	s.env = vars
	return nil
}

// faultPrefix is a username asking for its first N attempts to fail.
var faultPrefix = regexp.MustCompile(`^(throttle|internal|unavailable|reset)(\d+)-`)

var prefixFaults = map[string]cognitotest.Fault{
	"throttle":    cognitotest.Throttle,    // 400 TooManyRequestsException
	"internal":    cognitotest.Internal,    // 500 InternalErrorException
	"unavailable": cognitotest.ServerError, // 503, an HTML page
	"reset":       cognitotest.Reset,       // connection reset
}

// decide answers a call by its token's username: throttleN-, internalN-,
// unavailableN- and resetN- fail the first N attempts; expired- gets
// NotAuthorizedException "Access Token has expired"; badparam- gets
// InvalidParameterException; stall- never gets an answer. Others succeed.
func decide(c cognitotest.Call) cognitotest.Reply {
	user := usernameOf(c.Token)
	switch {
	case strings.HasPrefix(user, "expired-"):
		return cognitotest.Reply{Fault: cognitotest.APIError}
	case strings.HasPrefix(user, "badparam-"):
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "InvalidParameterException",
			Message: "User does not have delivery config set to turn on SMS_MFA"}
	case strings.HasPrefix(user, "notfound-"):
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "ResourceNotFoundException",
			Message: "User pool us-east-1_example does not exist."}
	case strings.HasPrefix(user, "forbidden-"):
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "ForbiddenException",
			Message: "Request not allowed due to WAF block."}
	case strings.HasPrefix(user, "stall-"):
		return cognitotest.Reply{Fault: cognitotest.Stall}
	case strings.HasPrefix(user, "slow-"):
		return cognitotest.Reply{Delay: slowDelay}
	case strings.HasPrefix(user, "echo-"), strings.HasPrefix(user, "echopiece-"), strings.HasPrefix(user, "echook-"):
		return echo(user, c.Token)
	}
	if m := faultPrefix.FindStringSubmatch(user); m != nil {
		if n, _ := strconv.Atoi(m[2]); c.Attempt <= n {
			return cognitotest.Reply{Fault: prefixFaults[m[1]]}
		}
	}
	return cognitotest.Reply{}
}

// slowDelay is how long slow- users wait for their answer.
const slowDelay = 500 * time.Millisecond

// usernameOf reads a token's username claim, or "".
func usernameOf(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var p struct {
		Username string `json:"username"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Username
}

// fingerprint is the report's token_sha256: SHA-256's first 16 hex digits.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

func fingerprintOrBlank(token string) string {
	if token == "" {
		return ""
	}
	return fingerprint(token)
}

// checkCode fails when a failing run's exit code was left unchecked.
func (s *script) checkCode(ts *testscript.TestScript) {
	if s.needsCode {
		ts.Fatalf("the failing mfabatch run before this line needs an exitcode check")
	}
}

func cmdMfabatch(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	if s.bg != nil {
		ts.Fatalf("mfabatch: a background run is still going: waitrun first")
	}
	if len(args) > 0 && args[len(args)-1] == "&" {
		s.startBackground(ts, neg, args[:len(args)-1])
		return
	}
	err := ts.Exec(s.bin, args...)
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		ts.Fatalf("mfabatch: %v", err)
	}
	s.checkRun(ts, neg, code, ts.ReadFile("stdout"), ts.ReadFile("stderr"))
}

// checkRun records a finished run's exit code and checks its output.
func (s *script) checkRun(ts *testscript.TestScript, neg bool, code int, stdout, stderr string) {
	s.ran, s.exit, s.needsCode = true, code, neg
	for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "goroutine "} {
		if strings.Contains(stderr, bad) {
			ts.Fatalf("mfabatch's stderr has %q", bad)
		}
	}
	s.checkNoToken(ts, "stdout", stdout)
	s.checkNoToken(ts, "stderr", stderr)
	switch {
	case neg && code == 0:
		ts.Fatalf("mfabatch succeeded, want a failure")
	case !neg && code != 0:
		ts.Fatalf("mfabatch exited %d, want 0", code)
	}
}

// background is a run started with "mfabatch ... &".
type background struct {
	cmd            *exec.Cmd
	neg            bool // started with !
	stdin          io.WriteCloser
	stdout, stderr syncBuffer
	done           chan struct{} // closed once cmd.Wait has returned
}

func (s *script) startBackground(ts *testscript.TestScript, neg bool, args []string) {
	bg := &background{neg: neg, done: make(chan struct{})}
	bg.cmd = s.command(ts, args)
	bg.cmd.Stdout, bg.cmd.Stderr = &bg.stdout, &bg.stderr
	var err error
	bg.stdin, err = bg.cmd.StdinPipe()
	ts.Check(err)
	ts.Check(bg.cmd.Start())
	go func() { bg.cmd.Wait(); close(bg.done) }()
	s.bg = bg
}

// command is the tool run with args in the script's directory and
// environment.
func (s *script) command(ts *testscript.TestScript, args []string) *exec.Cmd {
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = ts.MkAbs(".")
	for _, kv := range s.env {
		k, _, _ := strings.Cut(kv, "=")
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	return cmd
}

var signals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}

func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) != 1 || signals[args[0]] == 0 {
		ts.Fatalf("usage: signal HUP|INT|TERM|KILL")
	}
	if s.bg == nil {
		ts.Fatalf("signal: no background mfabatch run")
	}
	ts.Check(s.bg.cmd.Process.Signal(signals[args[0]]))
}

func cmdFeed(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) != 1 {
		ts.Fatalf("usage: feed FILE")
	}
	if s.bg == nil {
		ts.Fatalf("feed: no background mfabatch run")
	}
	_, err := io.WriteString(s.bg.stdin, ts.ReadFile(args[0]))
	ts.Check(err)
}

func cmdWaitrun(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	limit := 10 * time.Second
	if len(args) == 1 {
		d, err := time.ParseDuration(args[0])
		ts.Check(err)
		limit = d
	}
	if neg || len(args) > 1 {
		ts.Fatalf("usage: waitrun [DURATION]")
	}
	bg := s.bg
	if bg == nil {
		ts.Fatalf("waitrun: no background mfabatch run")
	}
	start := time.Now()
	select {
	case <-bg.done:
	case <-time.After(limit):
		bg.cmd.Process.Kill()
		<-bg.done
		s.bg = nil
		ts.Fatalf("the background mfabatch run did not exit within %v; killed\nstderr:\n%s", limit, bg.stderr.String())
	}
	s.bg = nil
	ts.Logf("the background run ended %v after waitrun began", time.Since(start).Round(time.Millisecond))
	// The run's output becomes the script's stdout and stderr once this
	// command returns.
	stdout, stderr := bg.stdout.String(), bg.stderr.String()
	fmt.Fprint(ts.Stdout(), stdout)
	fmt.Fprint(ts.Stderr(), stderr)
	code := bg.cmd.ProcessState.ExitCode()
	if ws, ok := bg.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	s.checkRun(ts, bg.neg, code, stdout, stderr)
}

// poll calls done until it is true, for at most 10 seconds.
func poll(ts *testscript.TestScript, what string, done func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			ts.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cmdWaitcalls(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	n, err := strconv.Atoi(strings.Join(args, " "))
	if neg || err != nil {
		ts.Fatalf("usage: waitcalls N")
	}
	poll(ts, fmt.Sprintf("%d calls", n), func() bool { return len(s.newCalls()) >= n })
}

func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	poll(ts, fmt.Sprintf("%s to match %q", args[0], args[1]), func() bool {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		return re.Match(b)
	})
}

func cmdCutline(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cutline FILE N|last")
	}
	lines := slices.Collect(strings.Lines(ts.ReadFile(args[0])))
	n, err := strconv.Atoi(args[1])
	if args[1] == "last" {
		n, err = len(lines), nil
	}
	if err != nil || n < 1 || n > len(lines) {
		ts.Fatalf("cutline: %s has no line %s", args[0], args[1])
	}
	line := strings.TrimSuffix(lines[n-1], "\n")
	lines[n-1] = line[:len(line)/2]
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(lines, "")), 0o600))
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	want, err := strconv.Atoi(strings.Join(args, " "))
	if neg || err != nil {
		ts.Fatalf("usage: exitcode N")
	}
	if !s.ran {
		ts.Fatalf("exitcode: mfabatch has not run")
	}
	s.needsCode = false
	if s.exit != want {
		ts.Fatalf("mfabatch exited %d, want %d", s.exit, want)
	}
}

// mint returns LABEL's token: minted from kvs (see mintClaims) the first
// time, the same token after that. Asking again with other kvs is an error.
func (s *script) mint(ts *testscript.TestScript, label string, kvs []string) string {
	spec := strings.Join(kvs, " ")
	if m, ok := s.tokens[label]; ok {
		if m.spec != spec {
			ts.Fatalf("token %s was made from %q, now asked for with %q", label, m.spec, spec)
		}
		return m.token
	}
	token, literal := "", false
	c := cognitotest.Claims{Username: label}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		if k == "token" {
			token, literal = v, true
			continue
		}
		if !mintClaims(&c, k, v) {
			ts.Fatalf("token %s: unknown key %q", label, k)
		}
	}
	if literal && len(kvs) > 1 {
		ts.Fatalf("token %s: token= takes no other token keys", label)
	}
	if !literal {
		token = cognitotest.Token(c)
	}
	s.tokens[label] = &minted{label: label, token: token, spec: spec}
	if token != "" {
		s.byToken[token] = label
		s.byFP[fingerprint(token)] = label
	}
	return token
}

// mintClaims sets a token key: username (default: the row's label), sub,
// region, pool, iss, token_use, scope, client_id ("-" leaves a claim out,
// as cognitotest.Omit), and exp as a duration from now ("-1h", "3s").
// token=TEXT instead writes TEXT as the token ("token=" leaves it blank).
func mintClaims(c *cognitotest.Claims, k, v string) bool {
	dst := map[string]*string{
		"username": &c.Username, "sub": &c.Sub, "region": &c.Region, "pool": &c.PoolID,
		"iss": &c.Issuer, "token_use": &c.TokenUse, "scope": &c.Scope, "client_id": &c.ClientID,
	}
	if p, ok := dst[k]; ok {
		*p = v
		return true
	}
	if k == "exp" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return false
		}
		c.Exp = time.Now().Add(d)
		return true
	}
	return false
}

// tokenKeys are the template keys that make the token, not the row.
var tokenKeys = map[string]bool{
	"token": true, "username": true, "sub": true, "region": true, "pool": true,
	"iss": true, "token_use": true, "scope": true, "client_id": true, "exp": true,
}

// templateRow is one line of a genmanifest template.
type templateRow struct {
	id, token string
	cols      [][2]string // column, value, in the line's order
}

func cmdGenmanifest(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	format := ""
	if len(args) > 0 && args[0] == "-format" && len(args) > 1 {
		format, args = args[1], args[2:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: genmanifest [-format csv|jsonl|api] TEMPLATE OUT")
	}
	if format == "" {
		format = "csv"
		if ext := filepath.Ext(args[1]); ext == ".jsonl" || ext == ".ndjson" || ext == ".json" {
			format = "jsonl"
		}
	}
	var rows []templateRow
	var columns []string // every column, in order of first use
	for line := range strings.Lines(ts.ReadFile(args[0])) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		labels := []string{f[0]}
		if m := repeatLabel.FindStringSubmatch(f[0]); m != nil {
			n, _ := strconv.Atoi(m[2])
			labels = labels[:0]
			for i := 1; i <= n; i++ {
				labels = append(labels, m[1]+strconv.Itoa(i))
			}
		}
		var cols [][2]string
		id := ""
		var tokenKVs []string
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				ts.Fatalf("%s: %q is not key=value", args[0], kv)
			case tokenKeys[k]:
				tokenKVs = append(tokenKVs, kv)
			case k == "id":
				id = v
			default:
				cols = append(cols, [2]string{k, v})
				if !slices.Contains(columns, k) {
					columns = append(columns, k)
				}
			}
		}
		for _, label := range labels {
			r := templateRow{id: cmp.Or(id, label), cols: cols}
			r.token = s.mint(ts, label, tokenKVs)
			rows = append(rows, r)
		}
	}
	var out bytes.Buffer
	switch format {
	case "csv":
		w := csv.NewWriter(&out)
		ts.Check(w.Write(append([]string{"id", "access_token"}, columns...)))
		for _, r := range rows {
			rec := make([]string, 2+len(columns))
			rec[0], rec[1] = r.id, r.token
			for _, c := range r.cols {
				rec[2+slices.Index(columns, c[0])] = c[1]
			}
			ts.Check(w.Write(rec))
		}
		w.Flush()
		ts.Check(w.Error())
	case "jsonl", "api":
		for _, r := range rows {
			out.WriteString(jsonRow(ts, r, format == "api"))
			out.WriteByte('\n')
		}
	default:
		ts.Fatalf("genmanifest: unknown format %q", format)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out.Bytes(), 0o600))
}

// repeatLabel is a template label standing for many rows: LABEL*N.
var repeatLabel = regexp.MustCompile(`^(.+)\*(\d+)$`)

// apiKeys maps manifest columns to the API's input shape.
var apiKeys = map[string][2]string{
	"sms_enabled":              {"SMSMfaSettings", "Enabled"},
	"sms_preferred":            {"SMSMfaSettings", "PreferredMfa"},
	"software_token_enabled":   {"SoftwareTokenMfaSettings", "Enabled"},
	"software_token_preferred": {"SoftwareTokenMfaSettings", "PreferredMfa"},
	"email_enabled":            {"EmailMfaSettings", "Enabled"},
	"email_preferred":          {"EmailMfaSettings", "PreferredMfa"},
	"webauthn_enabled":         {"WebAuthnMfaSettings", "Enabled"},
}

// jsonRow writes a template row as a JSON Lines record, keys in the
// template's order. Values true, false and null are JSON's; others strings.
func jsonRow(ts *testscript.TestScript, r templateRow, api bool) string {
	value := func(v string) string {
		switch v {
		case "true", "false", "null":
			return v
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	str := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	var b strings.Builder
	b.WriteString(`{"id":` + str(r.id))
	if !api {
		b.WriteString(`,"access_token":` + str(r.token))
		for _, c := range r.cols {
			b.WriteString("," + str(c[0]) + ":" + value(c[1]))
		}
		return b.String() + "}"
	}
	b.WriteString(`,"AccessToken":` + str(r.token))
	var blocks []string
	fields := map[string][]string{}
	for _, c := range r.cols {
		k, ok := apiKeys[c[0]]
		if !ok {
			ts.Fatalf("genmanifest: column %q has no place in the API shape", c[0])
		}
		if !slices.Contains(blocks, k[0]) {
			blocks = append(blocks, k[0])
		}
		fields[k[0]] = append(fields[k[0]], str(k[1])+":"+value(c[1]))
	}
	for _, bl := range blocks {
		b.WriteString("," + str(bl) + ":{" + strings.Join(fields[bl], ",") + "}")
	}
	return b.String() + "}"
}

func cmdPuttoken(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	if neg || len(args) < 3 {
		ts.Fatalf("usage: puttoken FILE TEXT LABEL [key=value...]")
	}
	data := ts.ReadFile(args[0])
	if !strings.Contains(data, args[1]) {
		ts.Fatalf("puttoken: %s has no %q", args[0], args[1])
	}
	token := s.mint(ts, args[2], args[3:])
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.ReplaceAll(data, args[1], token)), 0o600))
}

// reportColumns are the contract's report columns, in order.
var reportColumns = []string{
	"row", "id", "username", "sub", "region", "token_sha256", "status",
	"error_code", "error_message", "attempts", "http_status", "request_id",
	"started_at", "duration_ms", "request",
}

var statuses = []string{"succeeded", "failed", "invalid", "skipped", "dry_run", "not_attempted"}

// readReport reads a CSV or JSON Lines report into one map per row, every
// value as text: "" for an empty cell or a JSON null, and a JSON request
// object as compact JSON.
func readReport(data string) ([]map[string]string, error) {
	if strings.HasPrefix(data, "{") {
		var rows []map[string]string
		for line := range strings.Lines(data) {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				return nil, fmt.Errorf("JSONL report line %d: %v", len(rows)+1, err)
			}
			if keys := slices.Sorted(maps.Keys(obj)); !slices.Equal(keys, slices.Sorted(slices.Values(reportColumns))) {
				return nil, fmt.Errorf("JSONL report line %d: keys %v, want %v", len(rows)+1, keys, reportColumns)
			}
			row := map[string]string{}
			for k, raw := range obj {
				var str string
				switch {
				case string(raw) == "null":
				case json.Unmarshal(raw, &str) == nil:
					row[k] = str
				case k == "request":
					var c bytes.Buffer
					if err := json.Compact(&c, raw); err != nil {
						return nil, err
					}
					row[k] = c.String()
				default:
					row[k] = string(raw)
				}
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("CSV report: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], reportColumns) {
		return nil, fmt.Errorf("CSV report header %q, want %q", recs, reportColumns)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, c := range reportColumns {
			row[c] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

// checkRow checks what every report row must satisfy: counts are counts,
// the status is one of the contract's, token_sha256 is 16 hex digits (and,
// for a row whose id is a label, that of the label's token), started_at is
// RFC 3339 UTC, and the request's AccessToken is <redacted:token_sha256>.
// readReport has checked the columns, and cmdReport checks that the rows
// are numbered 1 to n, each once.
func (s *script) checkRow(r map[string]string) error {
	for _, c := range []string{"row", "attempts", "duration_ms"} {
		if n, err := strconv.Atoi(r[c]); err != nil || n < 0 {
			return fmt.Errorf("%s %q is not a count", c, r[c])
		}
	}
	if r["http_status"] != "" {
		if n, err := strconv.Atoi(r["http_status"]); err != nil || n < 100 || n > 599 {
			return fmt.Errorf("http_status %q", r["http_status"])
		}
	}
	if !slices.Contains(statuses, r["status"]) {
		return fmt.Errorf("status %q is none of %v", r["status"], statuses)
	}
	fp := r["token_sha256"]
	if fp != "" && !hex16.MatchString(fp) {
		return fmt.Errorf("token_sha256 %q is not 16 hex digits", fp)
	}
	if m, ok := s.tokens[r["id"]]; ok {
		if want := fingerprintOrBlank(m.token); fp != want {
			return fmt.Errorf("token_sha256 %q is not that of %s's token, %q", fp, r["id"], want)
		}
	}
	if t, err := time.Parse(time.RFC3339, r["started_at"]); err != nil || t.Location() != time.UTC {
		return fmt.Errorf("started_at %q is not RFC 3339 UTC", r["started_at"])
	}
	if req := r["request"]; req != "" {
		var body struct{ AccessToken string }
		if err := json.Unmarshal([]byte(req), &body); err != nil {
			return fmt.Errorf("request %q: %v", req, err)
		}
		if want := "<redacted:" + fp + ">"; body.AccessToken != want {
			return fmt.Errorf("request's AccessToken is %q, want %q", body.AccessToken, want)
		}
	}
	return nil
}

func cmdReport(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	partial := len(args) > 0 && args[0] == "-partial"
	if partial {
		args = args[1:]
	}
	if neg || len(args) < 1 {
		ts.Fatalf("usage: report [-partial] FILE [COLUMN...]")
	}
	rows, err := readReport(ts.ReadFile(args[0]))
	ts.Check(err)
	cols := args[1:]
	if len(cols) == 0 {
		cols = []string{"row", "id", "status", "error_code", "attempts", "http_status"}
	}
	for _, c := range cols {
		if !slices.Contains(reportColumns, c) {
			ts.Fatalf("report: no column %q", c)
		}
	}
	for i, r := range rows {
		if err := s.checkRow(r); err != nil {
			ts.Fatalf("%s: report row %d (row %s): %v", args[0], i+1, r["row"], err)
		}
	}
	n := func(r map[string]string) int { v, _ := strconv.Atoi(r["row"]); return v }
	slices.SortStableFunc(rows, func(a, b map[string]string) int { return n(a) - n(b) })
	for i, r := range rows {
		switch {
		case !partial && n(r) != i+1:
			ts.Fatalf("%s: report rows are %v, want 1 to %d, each once", args[0], rowNumbers(rows), len(rows))
		case partial && i > 0 && n(r) == n(rows[i-1]):
			ts.Fatalf("%s: report rows are %v, want each at most once", args[0], rowNumbers(rows))
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = s.showFingerprints(r[c])
			if cells[i] == "" {
				cells[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	ts.Check(tw.Flush())
	fmt.Fprint(ts.Stdout(), b.String())
}

func rowNumbers(rows []map[string]string) []string {
	var ns []string
	for _, r := range rows {
		ns = append(ns, r["row"])
	}
	return ns
}

// showFingerprints writes each fingerprint of a script's token as fp(LABEL).
func (s *script) showFingerprints(cell string) string {
	for fp, label := range s.byFP {
		cell = strings.ReplaceAll(cell, fp, "fp("+label+")")
	}
	return cell
}

// newCalls returns the calls since the last calls command.
func (s *script) newCalls() []cognitotest.Call {
	return s.srv.Calls()[s.callsSeen:]
}

func (s *script) label(token string) string {
	if l, ok := s.byToken[token]; ok {
		return l
	}
	return "?"
}

func cmdCalls(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	lo, hi, isRange := strings.Cut(strings.Join(args, " "), "-")
	least, err := strconv.Atoi(lo)
	most := least
	if isRange && err == nil {
		most, err = strconv.Atoi(hi)
	}
	if neg || err != nil {
		ts.Fatalf("usage: calls N|MIN-MAX")
	}
	calls := s.newCalls()
	s.callsSeen += len(calls)
	count := map[string]int{}
	for _, c := range calls {
		if c.Op != "SetUserMFAPreference" {
			ts.Fatalf("call %d is %q, not SetUserMFAPreference", c.N, c.Op)
		}
		count[s.label(c.Token)]++
	}
	var b strings.Builder
	for _, l := range slices.Sorted(maps.Keys(count)) {
		fmt.Fprintf(&b, "%s %d\n", l, count[l])
	}
	fmt.Fprint(ts.Stdout(), b.String())
	if len(calls) < least || len(calls) > most {
		want := lo
		if isRange {
			want = lo + " to " + hi
		}
		ts.Fatalf("the server got %d calls, want %s:\n%s", len(calls), want, b.String())
	}
}

func cmdBodies(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	s.checkCode(ts)
	arrival := len(args) == 1 && args[0] == "-arrival"
	if neg || len(args) > 1 || len(args) == 1 && !arrival {
		ts.Fatalf("usage: bodies [-arrival]")
	}
	calls := s.newCalls()
	if !arrival {
		slices.SortStableFunc(calls, func(a, b cognitotest.Call) int {
			return cmp.Or(strings.Compare(s.label(a.Token), s.label(b.Token)), a.Attempt-b.Attempt)
		})
	}
	var b strings.Builder
	for _, c := range calls {
		body := string(c.Body)
		if c.Token != "" {
			body = strings.ReplaceAll(body, c.Token, "<token:"+s.label(c.Token)+">")
		}
		b.WriteString(body + "\n")
	}
	fmt.Fprint(ts.Stdout(), b.String())
}

// tokenPiece is how much of a token must never be shown.
const tokenPiece = 16

// checkNoToken fails if text holds tokenPiece characters of any token the
// script made.
func (s *script) checkNoToken(ts *testscript.TestScript, name, text string) {
	if s.windowsFor != len(s.tokens) {
		s.windows = map[string]string{}
		for _, m := range s.tokens {
			for i := 0; i+tokenPiece <= len(m.token); i++ {
				s.windows[m.token[i:i+tokenPiece]] = m.label
			}
		}
		s.windowsFor = len(s.tokens)
	}
	for i := 0; i+tokenPiece <= len(text); i++ {
		if label, ok := s.windows[text[i:i+tokenPiece]]; ok {
			ts.Fatalf("%s shows part of %s's token at byte %d", name, label, i)
		}
	}
}

func cmdNotoken(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) == 0 {
		ts.Fatalf("usage: notoken FILE...")
	}
	if len(s.tokens) == 0 {
		ts.Fatalf("notoken: the script has made no tokens")
	}
	for _, f := range args {
		s.checkNoToken(ts, f, ts.ReadFile(f))
	}
}

func cmdFilemode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
	}
}
