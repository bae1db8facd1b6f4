package main_test

// End-to-end tests: the built mfabatch binary against a real moto_server,
// checked the way a user would check a run: exit code, report, and the
// users' MFA state read back from the service.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// scenario is one kind of manifest row: how its user is prepared, what the
// row asks for, and what must come of it.
type scenario struct {
	name string
	spec userSpec
	// cells are sms_enabled, sms_preferred, software_token_enabled,
	// software_token_preferred, as written in the manifest.
	cells [4]string
	// req is the request's settings blocks; the AccessToken is added.
	req    map[string]any
	status string
	code   string
	// after is the user's MFA state once the run is over.
	after mfaState
}

// block is a settings block as the request column shows it.
func block(enabled, preferred bool) map[string]any {
	return map[string]any{"Enabled": enabled, "PreferredMfa": preferred}
}

// applyScenarios are the rows of a real run, each sent to moto.
var applyScenarios = []scenario{{
	name:   "prefer-totp",
	spec:   userSpec{VerifiedTOTP: true},
	cells:  [4]string{"", "", "true", "true"},
	req:    map[string]any{"SoftwareTokenMfaSettings": block(true, true)},
	status: "succeeded",
	after:  mfa(totpMFA, totpMFA),
}, {
	// Cognito refuses TOTP until the user has verified a software token.
	name:   "totp-unverified",
	spec:   userSpec{},
	cells:  [4]string{"", "", "yes", ""},
	req:    map[string]any{"SoftwareTokenMfaSettings": block(true, false)},
	status: "failed",
	code:   "InvalidParameterException",
	after:  mfa(""),
}, {
	name:   "enable-sms",
	spec:   userSpec{Phone: true},
	cells:  [4]string{"TRUE", "false", "", ""},
	req:    map[string]any{"SMSMfaSettings": block(true, false)},
	status: "succeeded",
	after:  mfa("", smsMFA),
}, {
	// moto, like the SDK's serializer, reads a block of false fields as {}
	// and changes nothing: this row only works if false is sent explicitly.
	name:   "disable-sms",
	spec:   userSpec{Phone: true, PresetSMS: &factor{Enabled: true, Preferred: true}},
	cells:  [4]string{"false", "false", "", ""},
	req:    map[string]any{"SMSMfaSettings": block(false, false)},
	status: "succeeded",
	after:  mfa(""),
}, {
	// A blank field inside a block that is sent means false.
	name:   "disable-totp",
	spec:   userSpec{VerifiedTOTP: true, PresetTOTP: &factor{Enabled: true, Preferred: true}},
	cells:  [4]string{"", "", "0", ""},
	req:    map[string]any{"SoftwareTokenMfaSettings": block(false, false)},
	status: "succeeded",
	after:  mfa(""),
}, {
	name:  "switch-to-sms",
	spec:  userSpec{Phone: true, VerifiedTOTP: true, PresetTOTP: &factor{Enabled: true, Preferred: true}},
	cells: [4]string{"1", "1", "1", "0"},
	req: map[string]any{
		"SMSMfaSettings":           block(true, true),
		"SoftwareTokenMfaSettings": block(true, false),
	},
	status: "succeeded",
	after:  mfa(smsMFA, smsMFA, totpMFA),
}, {
	// SMS is left blank, so it must be left out of the request and stay on.
	name:   "totp-keep-sms",
	spec:   userSpec{Phone: true, VerifiedTOTP: true, PresetSMS: &factor{Enabled: true}},
	cells:  [4]string{"", "", "Yes", "TRUE"},
	req:    map[string]any{"SoftwareTokenMfaSettings": block(true, true)},
	status: "succeeded",
	after:  mfa(totpMFA, smsMFA, totpMFA),
}, {
	// A signed-out token still decodes and has a future exp; only the
	// service knows it is revoked.
	name:   "revoked",
	spec:   userSpec{Revoked: true},
	cells:  [4]string{"true", "", "", ""},
	req:    map[string]any{"SMSMfaSettings": block(true, false)},
	status: "failed",
	code:   "NotAuthorizedException",
	after:  mfa(""),
}}

// mrow is one manifest row and what the test expects of it.
type mrow struct {
	id    string
	token string
	cells [4]string
	user  *user // nil when the token belongs to no prepared user
	// accessToken says the token is the user's access token, so the report
	// must show the user's claims.
	accessToken bool
	req         map[string]any // nil: the row is never sent
	status      string
	code        string
}

// TestE2E runs the built binary against moto_server. Each subtest has its
// own emulator, so no state leaks between them; they share one build.
func TestE2E(t *testing.T) {
	requireMoto(t)
	tl := newTool(t)
	t.Run("AppliesManifest", func(t *testing.T) { testAppliesManifest(t, tl) })
	t.Run("InvalidRows", func(t *testing.T) { testInvalidRows(t, tl) })
	t.Run("DryRun", func(t *testing.T) { testDryRun(t, tl) })
}

// testAppliesManifest runs a 1,000-row manifest (120 with -short) of every
// kind of change, failures included, and checks every user ends in the
// requested state.
func testAppliesManifest(t *testing.T, tl *tool) {
	n := 1000
	if testing.Short() {
		n = 120
	}
	ctx := t.Context()
	endpoint := startMoto(t)
	c := newCognito(endpoint)
	p := createPool(t, ctx, c, "e2e-apply")

	specs := make([]userSpec, n)
	for i := range specs {
		specs[i] = applyScenarios[i%len(applyScenarios)].spec
		specs[i].Name = fmt.Sprintf("user-%04d", i)
	}
	start := time.Now()
	users := setupUsers(t, ctx, c, p, specs)
	t.Logf("set up %d users in %v", n, time.Since(start).Round(time.Millisecond))

	rows := make([]mrow, n)
	after := make([]mfaState, n)
	for i, u := range users {
		sc := applyScenarios[i%len(applyScenarios)]
		rows[i] = mrow{
			id: u.Spec.Name, token: u.AccessToken, cells: sc.cells, user: u, accessToken: true,
			req: sc.req, status: sc.status, code: sc.code,
		}
		after[i] = sc.after
	}
	dir := t.TempDir()
	manifest := writeManifest(t, dir, "manifest.csv", rows)
	reportPath := filepath.Join(dir, "report.csv")
	summaryPath := filepath.Join(dir, "summary.json")

	start = time.Now()
	res := tl.run(t, "run", "--endpoint-url", endpoint, "--rps", "0", "--workers", "16",
		"--report", reportPath, "--summary", summaryPath, manifest)
	t.Logf("mfabatch ran %d rows in %v", n, time.Since(start).Round(time.Millisecond))
	if res.exit != 1 {
		t.Errorf("exit code %d, want 1 (some rows fail)\nstderr:\n%s", res.exit, res.stderr)
	}
	checkReport(t, rows, readReport(t, reportPath))
	summary := mustRead(t, summaryPath)
	if !json.Valid(summary) {
		t.Errorf("summary is not JSON: %s", summary)
	}
	checkNoTokenLeak(t, rows, map[string][]byte{
		"stdout": res.stdout, "stderr": res.stderr, "report": mustRead(t, reportPath), "summary": summary,
	})
	checkMFA(t, ctx, c, p, users, func(i int) mfaState { return after[i] })

	// Running the rows that succeeded again must change nothing and exit 0:
	// users re-run jobs.
	var again []mrow
	var againUsers []*user
	var againAfter []mfaState
	for i, r := range rows {
		if r.status == "succeeded" {
			again = append(again, r)
			againUsers = append(againUsers, r.user)
			againAfter = append(againAfter, after[i])
		}
	}
	manifest = writeManifest(t, dir, "again.csv", again)
	reportPath = filepath.Join(dir, "again-report.csv")
	res = tl.run(t, "run", "--endpoint-url", endpoint, "--rps", "0", "--workers", "16",
		"--report", reportPath, manifest)
	if res.exit != 0 {
		t.Errorf("re-run: exit code %d, want 0 (every row succeeds)\nstderr:\n%s", res.exit, res.stderr)
	}
	checkReport(t, again, readReport(t, reportPath))
	checkMFA(t, ctx, c, p, againUsers, func(i int) mfaState { return againAfter[i] })
}

// testInvalidRows mixes broken rows with good ones: the broken ones are
// reported invalid and sent nowhere, the good ones are applied.
func testInvalidRows(t *testing.T, tl *tool) {
	ctx := t.Context()
	endpoint := startMoto(t)
	c := newCognito(endpoint)
	p := createPool(t, ctx, c, "e2e-invalid")

	users := setupUsers(t, ctx, c, p, []userSpec{
		{Name: "good-sms", Phone: true},
		{Name: "good-totp", VerifiedTOTP: true},
		{Name: "good-off", VerifiedTOTP: true, PresetTOTP: &factor{Enabled: true, Preferred: true}},
		{Name: "bad-bool", Phone: true},
		{Name: "bad-two-preferred", Phone: true, VerifiedTOTP: true},
		{Name: "bad-preferred-off", Phone: true},
		{Name: "bad-no-settings", Phone: true},
		{Name: "bad-id-token", Phone: true, IDToken: true},
	})
	byName := map[string]*user{}
	for _, u := range users {
		byName[u.Spec.Name] = u
	}
	good := func(name string, cells [4]string, req map[string]any) mrow {
		u := byName[name]
		return mrow{id: name, token: u.AccessToken, cells: cells, user: u, accessToken: true, req: req, status: "succeeded"}
	}
	bad := func(name string, cells [4]string, code string) mrow {
		u := byName[name]
		return mrow{id: name, token: u.AccessToken, cells: cells, user: u, accessToken: true, status: "invalid", code: code}
	}
	idRow := bad("bad-id-token", [4]string{"true", "", "", ""}, "NotAccessToken")
	idRow.token, idRow.accessToken = byName["bad-id-token"].IDToken, false
	rows := []mrow{
		good("good-sms", [4]string{"true", "false", "", ""}, map[string]any{"SMSMfaSettings": block(true, false)}),
		bad("bad-bool", [4]string{"maybe", "", "", ""}, "InvalidBoolean"),
		good("good-totp", [4]string{"", "", "true", "true"}, map[string]any{"SoftwareTokenMfaSettings": block(true, true)}),
		bad("bad-two-preferred", [4]string{"true", "true", "true", "true"}, "MultiplePreferred"),
		{id: "not-a-jwt", token: "opaque-secret-session-0123456789abcdef", cells: [4]string{"true", "", "", ""}, status: "invalid", code: "MalformedToken"},
		bad("bad-preferred-off", [4]string{"false", "true", "", ""}, "PreferredNotEnabled"),
		// The contract says only "invalid" for a blank token; the tool
		// names it InvalidRow.
		{id: "blank-token", token: "", cells: [4]string{"true", "", "", ""}, status: "invalid", code: "InvalidRow"},
		bad("bad-no-settings", [4]string{"", "", "", ""}, "NoSettings"),
		idRow,
		good("good-off", [4]string{"", "", "false", "false"}, map[string]any{"SoftwareTokenMfaSettings": block(false, false)}),
		// A user seen before: the same request again is skipped, a
		// different one is refused.
		{id: "good-sms-again", token: byName["good-sms"].AccessToken, cells: [4]string{"yes", "no", "", ""}, user: byName["good-sms"], accessToken: true, status: "skipped", code: "DuplicateUser"},
		{id: "good-totp-conflict", token: byName["good-totp"].AccessToken, cells: [4]string{"", "", "false", ""}, user: byName["good-totp"], accessToken: true, status: "invalid", code: "ConflictingRow"},
	}
	after := map[string]mfaState{
		"good-sms":  mfa("", smsMFA),
		"good-totp": mfa(totpMFA, totpMFA),
		"good-off":  mfa(""),
	}

	dir := t.TempDir()
	manifest := writeManifest(t, dir, "manifest.csv", rows)
	reportPath := filepath.Join(dir, "report.csv")
	res := tl.run(t, "run", "--endpoint-url", endpoint, "--rps", "0", "--workers", "16",
		"--report", reportPath, manifest)
	if res.exit != 1 {
		t.Errorf("exit code %d, want 1 (some rows invalid)\nstderr:\n%s", res.exit, res.stderr)
	}
	checkReport(t, rows, readReport(t, reportPath))
	checkNoTokenLeak(t, rows, map[string][]byte{
		"stdout": res.stdout, "stderr": res.stderr, "report": mustRead(t, reportPath),
	})
	// Users of invalid rows keep the state they had before the run.
	checkMFA(t, ctx, c, p, users, func(i int) mfaState {
		if s, ok := after[users[i].Spec.Name]; ok {
			return s
		}
		return users[i].Before
	})
}

// testDryRun shows every request of a valid manifest and sends none.
func testDryRun(t *testing.T, tl *tool) {
	ctx := t.Context()
	endpoint := startMoto(t)
	c := newCognito(endpoint)
	p := createPool(t, ctx, c, "e2e-dry-run")

	// Two users per scenario; the rows that would fail on the service are
	// still valid, and a dry run cannot tell.
	specs := make([]userSpec, 2*len(applyScenarios))
	for i := range specs {
		specs[i] = applyScenarios[i%len(applyScenarios)].spec
		specs[i].Name = fmt.Sprintf("dry-%02d", i)
	}
	users := setupUsers(t, ctx, c, p, specs)
	rows := make([]mrow, len(users))
	for i, u := range users {
		sc := applyScenarios[i%len(applyScenarios)]
		rows[i] = mrow{id: u.Spec.Name, token: u.AccessToken, cells: sc.cells, user: u, accessToken: true, req: sc.req, status: "dry_run"}
	}

	dir := t.TempDir()
	manifest := writeManifest(t, dir, "manifest.csv", rows)
	reportPath := filepath.Join(dir, "report.csv")
	res := tl.run(t, "run", "--dry-run", "--endpoint-url", endpoint, "--rps", "0", "--workers", "16",
		"--report", reportPath, manifest)
	if res.exit != 0 {
		t.Errorf("exit code %d, want 0 (every row valid)\nstderr:\n%s", res.exit, res.stderr)
	}
	checkReport(t, rows, readReport(t, reportPath))
	checkNoTokenLeak(t, rows, map[string][]byte{
		"stdout": res.stdout, "stderr": res.stderr, "report": mustRead(t, reportPath),
	})
	checkMFA(t, ctx, c, p, users, func(i int) mfaState { return users[i].Before })
}

var manifestHeader = []string{
	"access_token", "id", "sms_enabled", "sms_preferred", "software_token_enabled", "software_token_preferred",
}

func writeManifest(t *testing.T, dir, name string, rows []mrow) string {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(manifestHeader)
	for _, r := range rows {
		w.Write(append([]string{r.token, r.id}, r.cells[:]...))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// toolResult is what a run of the binary left behind.
type toolResult struct {
	exit           int
	stdout, stderr []byte
}

// tool is the mfabatch binary, built once for all subtests.
type tool struct {
	build func() (string, error)
}

// newTool starts building the binary into a temporary directory while the
// subtests prepare moto; the build is waited for before the directory goes.
func newTool(t *testing.T) *tool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mfabatch")
	tl := &tool{build: sync.OnceValues(func() (string, error) {
		// go test puts its own go first on PATH; "." is this package.
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build: %v\n%s", err, out)
		}
		return bin, nil
	})}
	go tl.build()
	t.Cleanup(func() { tl.build() })
	return tl
}

// run runs the binary with no AWS credentials or configuration of any
// kind, and no proxy, so that every byte goes to moto on loopback.
func (tl *tool) run(t *testing.T, args ...string) toolResult {
	t.Helper()
	return tl.runEnv(t, nil, args...)
}

// runEnv is run with env (KEY=VALUE) added to the environment.
func (tl *tool) runEnv(t *testing.T, env []string, args ...string) toolResult {
	t.Helper()
	bin, err := tl.build()
	if err != nil {
		t.Fatalf("building mfabatch: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(toolEnv(t), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := toolResult{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		res.exit = exit.ExitCode()
	default:
		t.Fatalf("mfabatch %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return res
}

func toolEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch uk := strings.ToUpper(k); {
		case strings.HasPrefix(uk, "AWS_"), uk == "HTTP_PROXY", uk == "HTTPS_PROXY", uk == "ALL_PROXY", uk == "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	none := filepath.Join(t.TempDir(), "none")
	return append(env,
		"AWS_CONFIG_FILE="+filepath.Join(none, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(none, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"HOME="+none,
		"NO_PROXY=127.0.0.1,localhost",
	)
}

var reportColumns = []string{
	"row", "id", "username", "sub", "region", "user_pool_id", "token_sha256", "status", "error_code", "error_message",
	"attempts", "http_status", "request_id", "started_at", "duration_ms", "request", "action", "before", "after",
}

// readReport reads a CSV report into one map per row, keyed by column.
func readReport(t *testing.T, path string) []map[string]string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("report mode %v, want 0600: it names users", perm)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("report is not CSV: %v", err)
	}
	if len(recs) == 0 {
		t.Fatal("report is empty, not even a header")
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	for _, name := range reportColumns {
		if _, ok := col[name]; !ok {
			t.Fatalf("report header %q lacks column %q", recs[0], name)
		}
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for name, i := range col {
			m[name] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// checkReport checks the report has exactly one row per manifest row and
// that each says what happened to that row.
func checkReport(t *testing.T, rows []mrow, report []map[string]string) {
	t.Helper()
	if len(report) != len(rows) {
		t.Errorf("report has %d rows, manifest %d", len(report), len(rows))
	}
	byRow := map[int]map[string]string{}
	for _, r := range report {
		n, err := strconv.Atoi(r["row"])
		if err != nil || n < 1 || n > len(rows) {
			t.Errorf("report row %q (id %q): not a manifest row number 1..%d", r["row"], r["id"], len(rows))
			continue
		}
		if _, dup := byRow[n]; dup {
			t.Errorf("report has row %d twice", n)
		}
		byRow[n] = r
	}
	failures := 0
	for i, want := range rows {
		got, ok := byRow[i+1]
		if !ok {
			t.Errorf("report lacks row %d (id %q)", i+1, want.id)
			continue
		}
		if errs := rowProblems(want, got); len(errs) > 0 {
			failures++
			if failures <= 10 { // one broken rule would otherwise print 1,000 times
				t.Errorf("report row %d (id %q): %s\nrow: %v", i+1, want.id, strings.Join(errs, "; "), got)
			}
		}
	}
	if failures > 10 {
		t.Errorf("... %d report rows wrong in all", failures)
	}
}

// rowProblems lists how a report row differs from what its manifest row
// must produce.
func rowProblems(want mrow, got map[string]string) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if got["id"] != want.id {
		bad("id %q, want %q", got["id"], want.id)
	}
	if got["status"] != want.status || got["error_code"] != want.code {
		bad("status %q/%q, want %q/%q (%s)", got["status"], got["error_code"], want.status, want.code, got["error_message"])
	}
	sha := fingerprint(want.token)
	if want.token != "" && got["token_sha256"] != sha {
		bad("token_sha256 %q, want %q", got["token_sha256"], sha)
	}
	if want.code != "" && got["error_message"] == "" {
		bad("error_code %q without an error_message", want.code)
	}
	if ts, err := time.Parse(time.RFC3339, got["started_at"]); err != nil {
		bad("started_at: %v", err)
	} else if _, off := ts.Zone(); off != 0 {
		bad("started_at %q is not UTC", got["started_at"])
	}
	if ms, err := strconv.Atoi(got["duration_ms"]); err != nil || ms < 0 {
		bad("duration_ms %q is not a count of milliseconds", got["duration_ms"])
	}
	attempts := 0
	if got["attempts"] != "" {
		var err error
		if attempts, err = strconv.Atoi(got["attempts"]); err != nil {
			bad("attempts %q is not a number", got["attempts"])
		}
	}

	sent := want.status == "succeeded" || want.status == "failed"
	switch {
	case sent && attempts < 1:
		bad("attempts %d for a row that was sent", attempts)
	case !sent && attempts != 0:
		bad("attempts %d for a row that must not be sent", attempts)
	case want.status == "failed" && attempts != 1:
		// Only throttling, 5xx and network errors are retried.
		bad("attempts %d: %s must not be retried", attempts, want.code)
	}
	if sent {
		wantHTTP := "200"
		if want.status == "failed" {
			wantHTTP = "400"
		}
		if got["http_status"] != wantHTTP {
			bad("http_status %q, want %s", got["http_status"], wantHTTP)
		}
		if got["request_id"] == "" {
			bad("no request_id, though moto sends one")
		}
	}

	if want.accessToken && want.user != nil && (sent || want.status == "dry_run") {
		u := want.user
		if got["username"] != u.Spec.Name || got["sub"] != u.Sub || got["region"] != motoRegion {
			bad("username/sub/region %q/%q/%q, want %q/%q/%q (from the token's claims)",
				got["username"], got["sub"], got["region"], u.Spec.Name, u.Sub, motoRegion)
		}
	}

	if want.req != nil {
		wantReq := map[string]any{"AccessToken": "<redacted:" + sha + ">"}
		for k, v := range want.req {
			wantReq[k] = v
		}
		var gotReq map[string]any
		if err := json.Unmarshal([]byte(got["request"]), &gotReq); err != nil {
			bad("request %q is not JSON: %v", got["request"], err)
		} else if !reflect.DeepEqual(gotReq, wantReq) {
			bad("request %s, want %s", got["request"], mustJSON(wantReq))
		}
	}
	return errs
}

func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:16]
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkNoTokenLeak fails if any 16-character piece of any token of the
// manifest appears in the tool's outputs. moto, for one, echoes a rejected
// token whole in its error message.
func checkNoTokenLeak(t *testing.T, rows []mrow, outputs map[string][]byte) {
	t.Helper()
	const piece = 16
	for name, out := range outputs {
		at := make(map[[piece]byte]int, len(out)) // piece -> first offset in out
		for i := len(out) - piece; i >= 0; i-- {
			at[[piece]byte(out[i:i+piece])] = i
		}
		leaks := 0
		var k [piece]byte
	rows:
		for _, r := range rows {
			for i := 0; i+piece <= len(r.token); i++ {
				copy(k[:], r.token[i:])
				off, ok := at[k]
				if !ok {
					continue
				}
				// moto's tokens share their header, so one leak shows up
				// in every row: print a few.
				if leaks++; leaks <= 3 {
					lo, hi := max(off-60, 0), min(off+piece+60, len(out))
					t.Errorf("%s holds bytes %d..%d of the token of row id %q, at offset %d: ...%s...",
						name, i, i+piece, r.id, off, out[lo:hi])
				}
				continue rows
			}
		}
		if leaks > 3 {
			t.Errorf("%s holds pieces of %d tokens in all", name, leaks)
		}
	}
}

// checkMFA reads every user back from moto and compares the MFA state
// with want(i) for users[i].
func checkMFA(t *testing.T, ctx context.Context, c *cip.Client, p pool, users []*user, want func(i int) mfaState) {
	t.Helper()
	got := getAllMFA(t, ctx, c, p, users)
	wrong := 0
	for i, u := range users {
		if w := want(i); !got[i].equal(w) {
			wrong++
			if wrong <= 10 {
				t.Errorf("user %q: MFA %v, want %v (before the run: %v)", u.Spec.Name, got[i], w, u.Before)
			}
		}
	}
	if wrong > 10 {
		t.Errorf("... %d users in the wrong MFA state in all", wrong)
	}
}
