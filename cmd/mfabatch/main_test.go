package main

// The CLI's script tests: testdata/*.txtar, run by testscript against the
// tool itself (this test binary, run as mfabatch: see TestMain). Each
// script gets its own fake Cognito endpoint, $COGNITO (port $COGNITO_PORT),
// and an AWS environment with no configuration, credentials, metadata
// service or proxy; the creds command gives it credentials.
//
// The endpoint answers by the user's name (see decide), the token's
// username claim or an admin call's Username: throttleN-,
// internalN-, unavailableN- (503) and resetN- users fail their first N
// attempts; expired- users get NotAuthorizedException, badparam-
// InvalidParameterException, notfound- ResourceNotFoundException,
// forbidden- ForbiddenException; stall- users never get an answer, slow-
// users get theirs after half a second; echo- users get an error quoting
// their token in its code, message and request id, echopiece- users one
// quoting pieces of it, echook- users a success with the token as its
// request id (admin calls: the session token, else the access key id, in
// place of the token). Admin calls must be signed with the script's
// credentials (see cmdCreds) for the pool id's region, else they are
// refused as AWS refuses them; nouser- users do not exist
// (UserNotFoundException), nototp- users never verified a software token
// (InvalidParameterException), denied- users get AccessDeniedException,
// nopool- users ResourceNotFoundException for their pool.
//
// The endpoint also answers reads (GetUser, AdminGetUser) and listings
// (ListUsers, ListUsersInGroup), from users whose MFA state the writes
// change (see cognitotest.User): a token's user is its pool and username
// (LABEL in us-east-1_TEST unless pool= or username= say otherwise); a
// user no script seeded or wrote reads as one with no MFA. The names
// above answer reads as they answer writes (the first N attempts of each
// operation), but for badparam- and nototp- users, whose reads work;
// noapply- users' writes succeed and change nothing.
//
// Every mfabatch run is checked: it exits 0, or with !, fails and is
// followed by exitcode; its stderr shows no race or panic; and no 16
// characters of any of the script's tokens are in its stdout, its stderr
// or any file it wrote; nor are any of the AWS credentials in its
// environment.
//
// The scripts' own commands:
//
//	mfabatch ARGS... [&]      run the tool; with &, in the background (one
//	                          at a time), its stdin a pipe open until it exits
//	mfabatch ARGS... | head -N
//	                          the same, its stdout read by head
//	exitcode N                the last run exited with status N (128+N when
//	                          signal N killed it)
//	signal HUP|INT|TERM|KILL  send a signal to the background run
//	feed FILE                 write FILE to the background run's stdin
//	waitfor calls [-op OPS] N wait until the server has had N calls (of
//	                          OPS; writes by default) that calls has not
//	                          counted
//	waitfor stderr REGEXP     wait until the background run's stderr matches
//	waitfor FILE REGEXP       wait until FILE matches (^ and $ at line ends)
//	waitfor exit [D]          wait for the background run to exit, for at
//	                          most D, and check it as any run
//	manifest [-admin] TEMPLATE OUT
//	                          write a CSV manifest from template lines
//	                          "LABEL [key=value...]", a row each: the token
//	                          keys (see claim) make LABEL's token, the other
//	                          keys are columns; id is LABEL unless id= says
//	                          otherwise; LABEL*N stands for N rows, LABEL1
//	                          to LABELN; -admin: username and user_pool_id
//	                          columns instead of access_token (see adminKeys)
//	manifest FILE             put LABEL's token in FILE in place of each
//	                          <token:LABEL [key=value...]> (<token:LABEL>
//	                          alone: LABEL's token, however it was made)
//	tokenfile FILE...         the runs after it may write access tokens to
//	                          FILE (rollback's manifest), which must then
//	                          be mode 0600
//	report [-partial] FILE [COLUMN...]
//	                          check a report (see checkRow; rows numbered 1
//	                          to n, each once; -partial: at most once) and
//	                          print its columns sorted by row, a token's
//	                          fingerprint shown as fp(LABEL)
//	calls [-op OPS] [-bodies|-arrival|-signed|-byop] N|MIN-MAX
//	                          the server got N (MIN to MAX) calls of OPS
//	                          (see fail; the writes by default, and then no
//	                          other call may be left uncounted) since calls
//	                          last counted them; print "LABEL COUNT" for
//	                          each user called (a token's label, an admin
//	                          call's user name, USER@POOL outside
//	                          us-east-1_TEST, a listing's POOL or
//	                          POOL/GROUP; "LABEL OP COUNT" when the calls
//	                          are of more than one operation), or "OP
//	                          COUNT" (-byop: every operation unless -op
//	                          says), or each call's body (by label, or in
//	                          order of arrival), a token shown as
//	                          <token:LABEL>, or who signed each call (by
//	                          label: see signer)
//	fail OPS KIND N           the next N calls of OPS get KIND (throttle,
//	                          internal, unavailable, reset, stall), before
//	                          the names above are looked at; OPS is
//	                          operations and writes, reads, lists or all,
//	                          separated by commas
//	users add POOL FILE       add the users of a CSV file to POOL (made
//	                          even when the file has no rows): a header
//	                          naming username and any of mfa (the state as
//	                          the report writes it, such as "sms,totp*",
//	                          or factors separated by spaces or
//	                          semicolons, * on the preferred one),
//	                          preferred, groups (separated by spaces or
//	                          semicolons), status, enabled, passkey; other
//	                          columns are attributes (see addUsers)
//	users show POOL [USERNAME...]
//	                          print "USERNAME STATE" for each user of POOL,
//	                          or those named, by name: STATE as the report
//	                          writes it (none for no factor), then
//	                          +passkey when passkeys are enabled; "-" for
//	                          a user the endpoint does not have
//	cutline FILE N|last       cut line N of FILE short, as a write cut
//	                          mid-line leaves it: its first half, no newline
//	fifo open FIFO            wait until a reader opens FIFO, and keep its
//	                          writing end open
//	fifo write FIFO FILE      write FILE to FIFO (opened as fifo open does),
//	                          then close it
//	creds [KIND]              put AWS credentials in the environment (see
//	                          cmdCreds)
//	tlsendpoint               serve the endpoint over HTTPS at $COGNITO_TLS,
//	                          its certificate from a CA made for the script
//	                          (ca.pem; other-ca.pem is another CA's); calls
//	                          then counts its calls
//
// Waits give up after 30s (a loaded machine is slow, not broken). A label's token is minted once per script.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary the tool when it runs as mfabatch. It does
// not use testscript.Main: the builtin mfabatch command that registers
// would take precedence over the scripts' own, which checks every run.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "mfabatch" {
		main()
	}
	os.Exit(m.Run())
}

func TestScripts(t *testing.T) {
	bindir := filepath.Join(t.TempDir(), "bin")
	if err := installTool(bindir); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                "testdata",
		Setup:              func(env *testscript.Env) error { return setup(env, bindir) },
		RequireUniqueNames: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mfabatch":    cmdMfabatch,
			"exitcode":    cmdExitcode,
			"signal":      cmdSignal,
			"feed":        cmdFeed,
			"waitfor":     cmdWaitfor,
			"manifest":    cmdManifest,
			"report":      cmdReport,
			"calls":       cmdCalls,
			"cutline":     cmdCutline,
			"fifo":        cmdFifo,
			"tlsendpoint": cmdTLSEndpoint,
			"creds":       cmdCreds,
			"users":       cmdUsers,
			"fail":        cmdFail,
			"tokenfile":   cmdTokenFile,
		},
	})
}

// installTool puts the test binary in bindir as mfabatch.
func installTool(bindir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bindir, 0o755); err != nil {
		return err
	}
	return os.Symlink(self, filepath.Join(bindir, "mfabatch"))
}

// script is one script's state, shared by its commands.
type script struct {
	srv     *cognitotest.Server
	seen    map[string]int // calls of each operation already counted by the calls command
	bin     string
	env     []string // the tool's environment, as set up
	bg      *background
	fifos   map[string]*os.File // writing ends kept open by fifo open
	exit    int                 // the last run's exit status
	ran     bool
	pending bool // a failing run's exit status is still to be checked

	tokens map[string]minted // by label
	labels map[string]string // a token, or its fingerprint, to its label
	pieces map[string]string // every 16 characters of a token to its label

	mu      sync.Mutex // guards failing, which the endpoint reads
	failing []*failing

	tokenFiles map[string]bool // files runs may write tokens to (tokenfile)
}

// minted is a label's token, its fingerprint ("" for a blank token), and
// the key=value pairs it was made from.
type minted struct{ token, fp, spec string }

type scriptKey struct{}

func state(ts *testscript.TestScript) *script {
	return ts.Value(scriptKey{}).(*script)
}

// setup starts the script's Cognito endpoint and cuts the tool off from
// any AWS configuration, credentials, metadata service or proxy.
func setup(env *testscript.Env, bindir string) error {
	s := &script{seen: map[string]int{}, bin: filepath.Join(bindir, "mfabatch"), fifos: map[string]*os.File{},
		tokens: map[string]minted{}, labels: map[string]string{}, pieces: map[string]string{}, tokenFiles: map[string]bool{}}
	srv := cognitotest.NewServer(s.decide)
	env.Defer(srv.Close)
	s.srv = srv
	env.Values[scriptKey{}] = s
	env.Defer(func() {
		t, ok := env.T().(interface{ Failed() bool })
		failed := ok && t.Failed()
		if s.bg != nil {
			s.bg.cmd.Process.Kill()
			<-s.bg.done
		}
		switch {
		case failed:
		case s.bg != nil:
			env.T().Fatal("the script's background mfabatch run needs a waitfor exit")
		case s.pending:
			env.T().Fatal("the script's last mfabatch run failed, and needs an exitcode check")
		}
	})
	var vars []string
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
		"COGNITO_PORT="+srv.URL[strings.LastIndex(srv.URL, ":")+1:],
	)
	if !race {
		// A race-enabled binary otherwise sleeps a second at every exit.
		vars = append(vars, "GORACE=atexit_sleep_ms=10")
	}
	env.Vars, s.env = vars, vars
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

// answers are the answers to users by their name's first word.
var answers = map[string]cognitotest.Reply{
	"expired":   {Fault: cognitotest.APIError},
	"badparam":  {Fault: cognitotest.APIError, Code: "InvalidParameterException", Message: "User does not have delivery config set to turn on SMS_MFA"},
	"notfound":  {Fault: cognitotest.APIError, Code: "ResourceNotFoundException", Message: "User pool us-east-1_example does not exist."},
	"forbidden": {Fault: cognitotest.APIError, Code: "ForbiddenException", Message: "Request not allowed due to WAF block."},
	"stall":     {Fault: cognitotest.Stall},
	"slow":      {Delay: 500 * time.Millisecond},
}

// writeAnswers are the answers that only writes get: the same users read
// as they are.
var writeAnswers = []string{"badparam"}

// decide answers a call by its user's name, the token's username claim
// or an admin call's Username: see the top of the file.
var decide = cognitotest.ByUsername(cognitotest.AdminAnswers, decideByName)

func decideByName(c cognitotest.Call) cognitotest.Reply {
	word, _, dash := strings.Cut(c.Username, "-")
	if r, ok := answers[word]; dash && ok && (cognitotest.Category(c.Op) == cognitotest.UserUpdate || !slices.Contains(writeAnswers, word)) {
		return r
	}
	if dash && (word == "echo" || word == "echopiece" || word == "echook") {
		return echo(word, echoed(c))
	}
	if m := faultPrefix.FindStringSubmatch(c.Username); m != nil {
		if n, _ := strconv.Atoi(m[2]); c.Attempt <= n {
			return cognitotest.Reply{Fault: prefixFaults[m[1]]}
		}
	}
	return cognitotest.Reply{}
}

// echoed is the secret an echo user's answer quotes: the token of a token
// call; the session token, else the access key id, of an admin call.
func echoed(c cognitotest.Call) string {
	if c.Token != "" {
		return c.Token
	}
	return cmp.Or(c.SessionToken, strings.Repeat(c.AccessKeyID, 3))
}

// echo answers as a server that quotes the caller's secret back.
func echo(word, token string) cognitotest.Reply {
	switch {
	case len(token) < 60:
		return cognitotest.Reply{Fault: cognitotest.APIError}
	case word == "echo":
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "Bad" + token, Message: "Invalid token " + token, RequestID: token}
	case word == "echook":
		return cognitotest.Reply{RequestID: token}
	}
	return cognitotest.Reply{Fault: cognitotest.APIError, Code: token[:30], Message: "Invalid token " + token[5:40], RequestID: "req-" + token[40:60]}
}

// fingerprint is the report's token_sha256: SHA-256's first 16 hex digits.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

func cmdMfabatch(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	switch n := len(args); {
	case s.pending:
		ts.Fatalf("the failing mfabatch run before this one needs an exitcode check")
	case s.bg != nil:
		ts.Fatalf("a background mfabatch run is still going: waitfor exit first")
	case n > 0 && args[n-1] == "&":
		s.bg = s.start(ts, neg, args[:n-1])
	case n > 2 && args[n-3] == "|":
		// bash's pipefail makes the run's status mfabatch's, not head's.
		line := shellQuote(append([]string{s.bin}, args[:n-3]...)) + " | " + shellQuote(args[n-2:])
		s.run(ts, neg, "bash", "-o", "pipefail", "-c", line)
	default:
		s.run(ts, neg, s.bin, args...)
	}
}

// run runs a command in the foreground and checks it as a run.
func (s *script) run(ts *testscript.TestScript, neg bool, name string, args ...string) {
	before := stamps(ts)
	err := ts.Exec(name, args...)
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = exitStatus(ee.ProcessState)
	case err != nil:
		ts.Fatalf("mfabatch: %v", err)
	}
	s.check(ts, neg, code, ts.ReadFile("stdout"), ts.ReadFile("stderr"), before)
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// exitStatus is a run's exit status, 128+N when signal N ended it.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// check records a finished run's exit status and checks its output and
// the files it wrote.
func (s *script) check(ts *testscript.TestScript, neg bool, code int, stdout, stderr string, before map[string]stamp) {
	s.ran, s.exit, s.pending = true, code, neg
	for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "goroutine "} {
		if strings.Contains(stderr, bad) {
			ts.Fatalf("mfabatch's stderr has %q", bad)
		}
	}
	s.addEnvSecrets(ts)
	s.checkNoToken(ts, "stdout", stdout)
	s.checkNoToken(ts, "stderr", stderr)
	for path, st := range stamps(ts) {
		if before[path] != st && s.tokenFiles[path] {
			checkMode(ts, path, 0o600)
		} else if before[path] != st {
			b, err := os.ReadFile(path)
			ts.Check(err)
			s.checkNoToken(ts, path, string(b))
		}
	}
	switch {
	case neg && code == 0:
		ts.Fatalf("mfabatch succeeded, want a failure")
	case !neg && code != 0:
		ts.Fatalf("mfabatch exited %d, want 0", code)
	}
}

// stamp tells whether a file was written since it was taken.
type stamp struct {
	size  int64
	mtime time.Time
	inode uint64
}

// stamps stamps the regular files under $WORK.
func stamps(ts *testscript.TestScript) map[string]stamp {
	m := map[string]stamp{}
	filepath.WalkDir(ts.Getenv("WORK"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			m[path] = stamp{fi.Size(), fi.ModTime(), fi.Sys().(*syscall.Stat_t).Ino}
		}
		return nil
	})
	return m
}

// tokenPiece is how much of a token, or of a credential, must never be
// shown.
const tokenPiece = 16

// credentialVars are the environment's AWS credentials: secrets too.
var credentialVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// addEnvSecrets adds the script's AWS credentials, however it set them
// (creds, env), to what checkNoToken looks for. A value too short to hold
// a piece ("test") is no real credential.
func (s *script) addEnvSecrets(ts *testscript.TestScript) {
	for _, k := range credentialVars {
		v := ts.Getenv(k)
		for i := 0; i+tokenPiece <= len(v); i++ {
			s.pieces[v[i:i+tokenPiece]] = k
		}
	}
}

// checkNoToken fails if text holds tokenPiece characters of any token the
// script made, or of the script's AWS credentials.
func (s *script) checkNoToken(ts *testscript.TestScript, name, text string) {
	for i := 0; i+tokenPiece <= len(text); i++ {
		if label, ok := s.pieces[text[i:i+tokenPiece]]; ok {
			ts.Fatalf("%s shows part of %s at byte %d", name, secretName(label), i)
		}
	}
}

// secretName names a secret by its label: a token's, or a credential's
// variable.
func secretName(label string) string {
	if slices.Contains(credentialVars, label) {
		return "the credential " + label
	}
	return label + "'s token"
}

// testCreds are the credentials creds can give a script.
var testCreds = map[string]aws.Credentials{
	"session":      cognitotest.TestSessionCredentials,
	"static":       cognitotest.TestCredentials,
	"expired":      cognitotest.TestExpiredCredentials,
	"wrong-secret": {AccessKeyID: cognitotest.TestCredentials.AccessKeyID, SecretAccessKey: "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecretK"},
	"unknown-key":  {AccessKeyID: "AKIA2MFABATCHNOSUCHK", SecretAccessKey: cognitotest.TestCredentials.SecretAccessKey},
}

// cmdCreds gives the script AWS credentials in its environment, for the
// runs after it: a role session's (key, secret and session token) by
// default, which the endpoint trusts; "static" an IAM user's key and
// secret; "expired", "wrong-secret" and "unknown-key" credentials that the
// endpoint refuses as AWS does (ExpiredTokenException,
// InvalidSignatureException, UnrecognizedClientException).
func cmdCreds(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	kind := "session"
	if len(args) == 1 {
		kind = args[0]
	}
	creds, ok := testCreds[kind]
	if neg || len(args) > 1 || !ok {
		ts.Fatalf("usage: creds [%s]", strings.Join(slices.Sorted(maps.Keys(testCreds)), "|"))
	}
	values := []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken}
	for i, k := range credentialVars {
		ts.Setenv(k, values[i])
		if !slices.ContainsFunc(s.env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") }) {
			s.env = append(s.env, k+"=")
		}
	}
}

func cmdTokenFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: tokenfile FILE...")
	}
	for _, name := range args {
		state(ts).tokenFiles[ts.MkAbs(name)] = true
	}
}

// checkMode fails unless path's permissions are perm.
func checkMode(ts *testscript.TestScript, path string, perm os.FileMode) {
	fi, err := os.Stat(path)
	ts.Check(err)
	if fi.Mode().Perm() != perm {
		ts.Fatalf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), perm)
	}
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	want, err := strconv.Atoi(strings.Join(args, " "))
	switch {
	case neg || err != nil:
		ts.Fatalf("usage: exitcode N")
	case !s.ran:
		ts.Fatalf("exitcode: mfabatch has not run")
	}
	s.pending = false
	if s.exit != want {
		ts.Fatalf("mfabatch exited %d, want %d", s.exit, want)
	}
}

// background is a run started with "mfabatch ... &".
type background struct {
	cmd            *exec.Cmd
	neg            bool // started with !
	stdin          io.WriteCloser
	stdout, stderr *os.File
	before         map[string]stamp
	done           chan struct{} // closed once cmd.Wait has returned
}

func (s *script) start(ts *testscript.TestScript, neg bool, args []string) *background {
	bg := &background{neg: neg, before: stamps(ts), done: make(chan struct{})}
	bg.cmd = exec.Command(s.bin, args...)
	bg.cmd.Dir = ts.MkAbs(".")
	for _, kv := range s.env {
		k, _, _ := strings.Cut(kv, "=")
		bg.cmd.Env = append(bg.cmd.Env, k+"="+ts.Getenv(k))
	}
	for _, f := range []**os.File{&bg.stdout, &bg.stderr} {
		var err error
		*f, err = os.CreateTemp("", "mfabatch-output-")
		ts.Check(err)
		ts.Defer(func() { (*f).Close(); os.Remove((*f).Name()) })
	}
	bg.cmd.Stdout, bg.cmd.Stderr = bg.stdout, bg.stderr
	var err error
	bg.stdin, err = bg.cmd.StdinPipe()
	ts.Check(err)
	ts.Check(bg.cmd.Start())
	go func() { bg.cmd.Wait(); close(bg.done) }()
	return bg
}

// output reads what a background run has written to f so far.
func output(ts *testscript.TestScript, f *os.File) string {
	b, err := os.ReadFile(f.Name())
	ts.Check(err)
	return string(b)
}

// background returns the background run, for a command that needs it.
func (s *script) background(ts *testscript.TestScript, cmd string) *background {
	if s.bg == nil {
		ts.Fatalf("%s: no background mfabatch run", cmd)
	}
	return s.bg
}

var signals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}

func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || signals[args[0]] == 0 {
		ts.Fatalf("usage: signal HUP|INT|TERM|KILL")
	}
	ts.Check(state(ts).background(ts, "signal").cmd.Process.Signal(signals[args[0]]))
}

func cmdFeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: feed FILE")
	}
	_, err := io.WriteString(state(ts).background(ts, "feed").stdin, ts.ReadFile(args[0]))
	ts.Check(err)
}

func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	ops := opGroups["writes"]
	if len(args) == 4 && args[0] == "calls" && args[1] == "-op" {
		ops, args = parseOps(ts, args[2]), []string{"calls", args[3]}
	}
	if neg || len(args) != 2 && !(len(args) == 1 && args[0] == "exit") {
		ts.Fatalf("usage: waitfor calls [-op OPS] N | stderr REGEXP | FILE REGEXP | exit [DURATION]")
	}
	switch args[0] {
	case "exit":
		s.waitExit(ts, args[1:])
		return
	case "calls":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		counts := func(op string) bool { return slices.Contains(ops, op) }
		poll(ts, args[1]+" calls", func() bool { return len(s.fresh(counts)) >= n })
		return
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	read := func() []byte { b, _ := os.ReadFile(ts.MkAbs(args[0])); return b }
	if args[0] == "stderr" {
		bg := s.background(ts, "waitfor stderr")
		read = func() []byte { return []byte(output(ts, bg.stderr)) }
	}
	poll(ts, fmt.Sprintf("%s to match %q", args[0], args[1]), func() bool { return re.Match(read()) })
}

// poll calls done until it is true, for at most waitLimit.
func poll(ts *testscript.TestScript, what string, done func() bool) {
	deadline := time.Now().Add(waitLimit)
	for !done() {
		if time.Now().After(deadline) {
			ts.Fatalf("waited %v for %s", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLimit bounds the scripts' waits: a loaded machine is slow, not
// broken.
const waitLimit = 30 * time.Second

// waitExit waits for the background run to exit, for at most args[0]
// (waitLimit by default), and checks it. Its output becomes the script's.
func (s *script) waitExit(ts *testscript.TestScript, args []string) {
	bg := s.background(ts, "waitfor exit")
	limit := waitLimit
	if len(args) == 1 {
		d, err := time.ParseDuration(args[0])
		ts.Check(err)
		limit = d
	}
	select {
	case <-bg.done:
	case <-time.After(limit):
		bg.cmd.Process.Kill()
		<-bg.done
		s.bg = nil
		ts.Fatalf("the background mfabatch run did not exit within %v; killed\nstderr:\n%s", limit, output(ts, bg.stderr))
	}
	s.bg = nil
	stdout, stderr := output(ts, bg.stdout), output(ts, bg.stderr)
	fmt.Fprint(ts.Stdout(), stdout)
	fmt.Fprint(ts.Stderr(), stderr)
	s.check(ts, bg.neg, exitStatus(bg.cmd.ProcessState), stdout, stderr, bg.before)
}

// mint returns LABEL's token: minted from kvs (see claim) the first time,
// the same token after that. Asking again with other kvs is an error.
func (s *script) mint(ts *testscript.TestScript, label string, kvs []string) string {
	spec := strings.Join(kvs, " ")
	if m, ok := s.tokens[label]; ok {
		if spec != "" && m.spec != spec {
			ts.Fatalf("token %s was made from %q, now asked for with %q", label, m.spec, spec)
		}
		return m.token
	}
	c := cognitotest.Claims{Username: label}
	token, literal := "", false
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "token":
			token, literal = v, true
		case !claim(&c, k, v):
			ts.Fatalf("token %s: unknown key %q", label, k)
		}
	}
	switch {
	case literal && len(kvs) > 1:
		ts.Fatalf("token %s: token= takes no other token keys", label)
	case !literal:
		token = cognitotest.Token(c)
	}
	m := minted{token: token, spec: spec}
	if token != "" {
		m.fp = fingerprint(token)
		s.labels[token], s.labels[m.fp] = label, label
	}
	s.tokens[label] = m
	for i := 0; i+tokenPiece <= len(token); i++ {
		s.pieces[token[i:i+tokenPiece]] = label
	}
	return token
}

// claim sets a token key: username (by default the row's label), sub,
// region, pool, iss, token_use, scope, client_id ("-" leaves a claim out,
// as cognitotest.Omit), and exp as a duration from now ("-1h", "3s").
// token=TEXT instead writes TEXT as the token ("token=" leaves it blank).
func claim(c *cognitotest.Claims, k, v string) bool {
	fields := map[string]*string{
		"username": &c.Username, "sub": &c.Sub, "region": &c.Region, "pool": &c.PoolID,
		"iss": &c.Issuer, "token_use": &c.TokenUse, "scope": &c.Scope, "client_id": &c.ClientID,
	}
	if p, ok := fields[k]; ok {
		*p = v
		return true
	}
	if k != "exp" {
		return false
	}
	d, err := time.ParseDuration(v)
	c.Exp = time.Now().Add(d)
	return err == nil
}

// isTokenKey tells a template's token keys from its columns.
func isTokenKey(k string) bool {
	return k == "token" || k == "exp" || claim(&cognitotest.Claims{}, k, "")
}

// templateRow is one row of a manifest template.
type templateRow struct {
	label, id string
	tokenKVs  []string    // the token keys, key=value
	cols      [][2]string // column, value, in the line's order
}

// placeholder is where "manifest FILE" puts a token: <token:LABEL
// [key=value...]>, the token keys as in a template.
var placeholder = regexp.MustCompile(`<token:([^<>]+)>`)

func cmdManifest(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	admin := len(args) == 3 && args[0] == "-admin"
	if admin {
		args = args[1:]
	}
	if neg || len(args) == 0 || len(args) > 2 || admin && len(args) != 2 {
		ts.Fatalf("usage: manifest [-admin] TEMPLATE OUT | manifest FILE")
	}
	if len(args) == 1 {
		text := ts.ReadFile(args[0])
		if !placeholder.MatchString(text) {
			ts.Fatalf("manifest: %s has no <token:LABEL>", args[0])
		}
		text = placeholder.ReplaceAllStringFunc(text, func(p string) string {
			f := strings.Fields(placeholder.FindStringSubmatch(p)[1])
			return s.mint(ts, f[0], f[1:])
		})
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(text), 0o600))
		return
	}
	rows, columns := template(ts, args[0])
	keys, key := []string{"access_token"}, func(r templateRow) []string { return []string{s.mint(ts, r.label, r.tokenKVs)} }
	if admin {
		keys, key = adminKeys(ts, rows)
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.Write(slices.Concat([]string{"id"}, keys, columns))
	for _, r := range rows {
		rec := slices.Concat([]string{r.id}, key(r), make([]string, len(columns)))
		for _, c := range r.cols {
			rec[1+len(keys)+slices.Index(columns, c[0])] = c[1]
		}
		w.Write(rec)
	}
	w.Flush()
	ts.Check(w.Error())
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out.Bytes(), 0o600))
}

// repeatLabel is a template label standing for many rows: LABEL*N.
var repeatLabel = regexp.MustCompile(`^(.+)\*(\d+)$`)

// defaultPool is an admin template row's user_pool_id unless pool= says
// otherwise.
const defaultPool = "us-east-1_TEST"

// adminKeys gives an admin template's key columns, and a row's cells in
// them: username (LABEL unless username= says otherwise) and user_pool_id
// (defaultPool unless pool= says otherwise; "pool=" leaves it blank, and
// the column is left out when every row leaves it blank).
func adminKeys(ts *testscript.TestScript, rows []templateRow) ([]string, func(templateRow) []string) {
	cells := map[string][]string{} // by label
	pools := false
	for _, r := range rows {
		user, pool := r.label, defaultPool
		for _, kv := range r.tokenKVs {
			switch k, v, _ := strings.Cut(kv, "="); k {
			case "username":
				user = v
			case "pool":
				pool = v
			default:
				ts.Fatalf("manifest -admin: row %s: %q is a token key; admin rows take username= and pool=", r.label, kv)
			}
		}
		cells[r.label] = []string{user, pool}
		pools = pools || pool != ""
	}
	if !pools {
		return []string{"username"}, func(r templateRow) []string { return cells[r.label][:1] }
	}
	return []string{"username", "user_pool_id"}, func(r templateRow) []string { return cells[r.label] }
}

// template reads a manifest template: its rows, and every column in order
// of first use.
func template(ts *testscript.TestScript, name string) (rows []templateRow, columns []string) {
	for line := range strings.Lines(ts.ReadFile(name)) {
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
		var id string
		var tokenKVs []string
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			switch {
			case !ok:
				ts.Fatalf("%s: %q is not key=value", name, kv)
			case isTokenKey(k):
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
			rows = append(rows, templateRow{label, cmp.Or(id, label), tokenKVs, cols})
		}
	}
	return rows, columns
}

// reportColumns are the contract's report columns, in order.
var reportColumns = []string{
	"row", "id", "username", "sub", "region", "user_pool_id", "token_sha256", "status",
	"error_code", "error_message", "attempts", "http_status", "request_id",
	"started_at", "duration_ms", "request", "action", "before", "after",
}

var statuses = []string{"succeeded", "failed", "invalid", "skipped", "dry_run", "not_attempted", "planned"}

// readReport reads a CSV or JSON Lines report into one map per row, every
// value as text: "" for an empty cell or a JSON null, and a JSON request
// object as compact JSON.
func readReport(data string) ([]map[string]string, error) {
	var rows []map[string]string
	if !strings.HasPrefix(data, "{") {
		recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
		switch {
		case err != nil:
			return nil, fmt.Errorf("CSV report: %v", err)
		case len(recs) == 0 || !slices.Equal(recs[0], reportColumns):
			return nil, fmt.Errorf("CSV report header %q, want %q", recs[:min(len(recs), 1)], reportColumns)
		}
		for _, rec := range recs[1:] {
			row := map[string]string{}
			for i, c := range reportColumns {
				row[c] = rec[i]
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
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
			var c bytes.Buffer
			switch {
			case string(raw) == "null":
			case json.Unmarshal(raw, &str) == nil:
				row[k] = str
			case k == "request" && json.Compact(&c, raw) == nil:
				row[k] = c.String()
			default:
				row[k] = string(raw)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

var hex16 = regexp.MustCompile(`[0-9a-f]{16}`)

// checkRow checks what every report row must satisfy: counts are counts,
// the status is one of the contract's, token_sha256 is 16 hex digits (and,
// for a row whose id is a label, that of the label's token), started_at is
// RFC 3339 UTC, and the request's AccessToken is <redacted:token_sha256>,
// or, for an admin row, the request names the row's user and pool.
func (s *script) checkRow(r map[string]string) error {
	for _, c := range []string{"row", "attempts", "duration_ms"} {
		if n, err := strconv.Atoi(r[c]); err != nil || n < 0 {
			return fmt.Errorf("%s %q is not a count", c, r[c])
		}
	}
	if n, err := strconv.Atoi(r["http_status"]); r["http_status"] != "" && (err != nil || n < 100 || n > 599) {
		return fmt.Errorf("http_status %q", r["http_status"])
	}
	if !slices.Contains(statuses, r["status"]) {
		return fmt.Errorf("status %q is none of %v", r["status"], statuses)
	}
	fp := r["token_sha256"]
	if fp != "" && hex16.FindString(fp) != fp {
		return fmt.Errorf("token_sha256 %q is not 16 hex digits", fp)
	}
	if m, ok := s.tokens[r["id"]]; ok && fp != m.fp {
		return fmt.Errorf("token_sha256 %q is not that of %s's token, %q", fp, r["id"], m.fp)
	}
	if t, err := time.Parse(time.RFC3339, r["started_at"]); err != nil || t.Location() != time.UTC {
		return fmt.Errorf("started_at %q is not RFC 3339 UTC", r["started_at"])
	}
	req := r["request"]
	if req == "" {
		return nil
	}
	var body struct{ AccessToken, Username, UserPoolId *string }
	if err := json.Unmarshal([]byte(req), &body); err != nil {
		return fmt.Errorf("request %q: %v", req, err)
	}
	if body.AccessToken == nil && fp == "" {
		return checkAdminRequest(r, body.Username, body.UserPoolId)
	}
	if want := "<redacted:" + fp + ">"; body.AccessToken == nil || *body.AccessToken != want {
		return fmt.Errorf("request's AccessToken is %q, want %q", req, want)
	}
	return nil
}

// checkAdminRequest checks an admin row's request names the report's
// user and pool. A CSV report escapes a cell a spreadsheet would run.
func checkAdminRequest(r map[string]string, username, pool *string) error {
	switch {
	case username == nil || pool == nil:
		return fmt.Errorf("request %q has neither AccessToken nor Username and UserPoolId", r["request"])
	case *username != r["username"] && "'"+*username != r["username"]:
		return fmt.Errorf("request's Username %q, report's username %q", *username, r["username"])
	case *pool != r["user_pool_id"]:
		return fmt.Errorf("request's UserPoolId %q, report's user_pool_id %q", *pool, r["user_pool_id"])
	}
	return nil
}

func cmdReport(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
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
	var numbers []int
	for _, r := range rows {
		numbers = append(numbers, n(r))
	}
	for i, r := range rows {
		if !partial && n(r) != i+1 || partial && i > 0 && n(r) == n(rows[i-1]) {
			ts.Fatalf("%s: report rows are %v, want 1 to %d, each once (-partial: at most once)", args[0], numbers, len(rows))
		}
	}
	tw := tabwriter.NewWriter(ts.Stdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cmp.Or(hex16.ReplaceAllStringFunc(r[c], s.showFingerprint), "-")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	ts.Check(tw.Flush())
}

// showFingerprint writes the fingerprint of a script's token as fp(LABEL).
func (s *script) showFingerprint(fp string) string {
	if label, ok := s.labels[fp]; ok {
		return "fp(" + label + ")"
	}
	return fp
}

// callLabel names a call's user: its token's label, or an admin call's
// user name, with "@POOL" when the pool is not defaultPool; a listing by
// its pool, and "/GROUP" for ListUsersInGroup.
func (s *script) callLabel(c cognitotest.Call) string {
	switch {
	case cognitotest.Category(c.Op) == cognitotest.UserList && c.Group != "":
		return c.PoolID + "/" + c.Group
	case cognitotest.Category(c.Op) == cognitotest.UserList:
		return c.PoolID
	case c.Token != "" || c.Op != "AdminSetUserMFAPreference" && c.Op != "AdminGetUser":
		return s.label(c.Token)
	case c.PoolID != defaultPool:
		return c.Username + "@" + c.PoolID
	}
	return c.Username
}

// signer says who signed a call, for calls -signed: "REGION CREDS
// verified|refused", CREDS being creds' name for the key ("unsigned" and
// "-" when there is no signature, "?" for a key that no creds gives).
func signer(c cognitotest.Call) string {
	if c.AccessKeyID == "" {
		return "- unsigned refused"
	}
	name := "?"
	for k, creds := range testCreds {
		if creds.AccessKeyID == c.AccessKeyID && (name == "?" || k < name) {
			name = k
		}
	}
	verdict := "refused"
	if c.Verified {
		verdict = "verified"
	}
	return c.SigningRegion + " " + name + " " + verdict
}

// label is the label of a token the script made, or "?".
func (s *script) label(token string) string {
	return cmp.Or(s.labels[token], "?")
}

func cmdCalls(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	ops, show, args := callsArgs(ts, args)
	lo, hi, isRange := strings.Cut(strings.Join(args, " "), "-")
	least, err := strconv.Atoi(lo)
	most := least
	if isRange && err == nil {
		most, err = strconv.Atoi(hi)
	}
	if neg || err != nil || len(args) != 1 {
		ts.Fatalf("usage: calls [-op OPS] [-bodies|-arrival|-signed|-byop] N|MIN-MAX")
	}
	calls := s.take(s.countedOps(ts, ops, show))
	mixed := slices.ContainsFunc(calls, func(c cognitotest.Call) bool { return c.Op != calls[0].Op })
	count := map[string]int{}
	for _, c := range calls {
		switch {
		case show == "-byop":
			count[c.Op]++
		case mixed:
			count[s.callLabel(c)+" "+c.Op]++
		default:
			count[s.callLabel(c)]++
		}
	}
	var b strings.Builder
	for _, l := range slices.Sorted(maps.Keys(count)) {
		fmt.Fprintf(&b, "%s %d\n", l, count[l])
	}
	if len(calls) < least || len(calls) > most {
		ts.Fatalf("the server got %d calls, want %s:\n%s", len(calls), strings.Join(args, " "), b.String())
	}
	if show == "" || show == "-byop" {
		fmt.Fprint(ts.Stdout(), b.String())
		return
	}
	if show != "-arrival" {
		slices.SortStableFunc(calls, func(a, b cognitotest.Call) int {
			return cmp.Or(strings.Compare(s.callLabel(a), s.callLabel(b)), a.Attempt-b.Attempt)
		})
	}
	for _, c := range calls {
		if show == "-signed" {
			fmt.Fprintln(ts.Stdout(), s.callLabel(c), signer(c))
			continue
		}
		body := string(c.Body)
		if c.Token != "" {
			body = strings.ReplaceAll(body, c.Token, "<token:"+s.label(c.Token)+">")
		}
		fmt.Fprintln(ts.Stdout(), body)
	}
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

func cmdFifo(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) == 0 || len(args) != map[string]int{"open": 2, "write": 3}[args[0]] {
		ts.Fatalf("usage: fifo open FIFO | fifo write FIFO FILE")
	}
	name := ts.MkAbs(args[1])
	w, open := s.fifos[name]
	if !open {
		poll(ts, "a reader of "+name, func() bool {
			var err error
			// Without a reader, a non-blocking open fails with ENXIO.
			w, err = os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil && !errors.Is(err, syscall.ENXIO) {
				ts.Fatalf("fifo: %v", err)
			}
			return err == nil
		})
	}
	if args[0] == "open" {
		s.fifos[name] = w
		return
	}
	delete(s.fifos, name)
	_, err := io.WriteString(w, ts.ReadFile(args[2]))
	ts.Check(err)
	ts.Check(w.Close())
}

// cmdTLSEndpoint serves the script's endpoint over HTTPS as well, as a
// service behind a private CA.
func cmdTLSEndpoint(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) != 0 {
		ts.Fatalf("usage: tlsendpoint")
	}
	ca, err := cognitotest.NewCA("mfabatch script CA")
	ts.Check(err)
	other, err := cognitotest.NewCA("another CA")
	ts.Check(err)
	cert, err := ca.Certificate("127.0.0.1")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("ca.pem"), ca.PEM, 0o600))
	ts.Check(os.WriteFile(ts.MkAbs("other-ca.pem"), other.PEM, 0o600))
	srv := cognitotest.NewTLSServer(s.decide, cert)
	ts.Defer(srv.Close)
	s.srv, s.seen = srv, map[string]int{}
	ts.Setenv("COGNITO_TLS", srv.URL)
}
