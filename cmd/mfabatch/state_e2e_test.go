package main_test

// End-to-end tests of a rollout's export, plan, apply with verify and
// rollback against moto_server, in admin and token mode: users in mixed
// starting states, a manifest that makes SMS preferred for everyone (TOTP
// off for some), each step run with the built binary and every user read
// back with AdminGetUser.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// stateStarts are the starting states users are set up in, each with a
// phone number or without (moto does not check it for SMS; Cognito does).
var stateStarts = []userSpec{
	{Name: "none"},
	{Name: "none-phone", Phone: true},
	{Name: "sms", Phone: true, PresetSMS: &factor{Enabled: true}},
	{Name: "sms-preferred", Phone: true, PresetSMS: &factor{Enabled: true, Preferred: true}},
	{Name: "sms-preferred-nophone", PresetSMS: &factor{Enabled: true, Preferred: true}},
	{Name: "totp-preferred", VerifiedTOTP: true, PresetTOTP: &factor{Enabled: true, Preferred: true}},
	{Name: "totp-preferred-phone", Phone: true, VerifiedTOTP: true, PresetTOTP: &factor{Enabled: true, Preferred: true}},
	{Name: "both-sms-preferred", Phone: true, VerifiedTOTP: true,
		PresetSMS: &factor{Enabled: true, Preferred: true}, PresetTOTP: &factor{Enabled: true}},
	{Name: "both-totp-preferred", Phone: true, VerifiedTOTP: true,
		PresetSMS: &factor{Enabled: true}, PresetTOTP: &factor{Enabled: true, Preferred: true}},
	// A verified software token that is not turned on reads as none.
	{Name: "totp-verified-off", VerifiedTOTP: true},
}

// stateAsk is what a rollout row asks: sms_enabled, sms_preferred,
// software_token_enabled, software_token_preferred, as written.
type stateAsk struct {
	name  string
	cells [4]string
	code  string // the tool's code for a row it refuses; "" for a valid row
}

// stateAsks are the rollout's rows: SMS preferred, with TOTP left as it is
// or turned off, and for a third TOTP preferred with SMS kept on, which
// Cognito refuses to users who never verified a software token.
var stateAsks = []stateAsk{
	{name: "sms-preferred", cells: [4]string{"true", "true", "", ""}},
	{name: "sms-preferred-totp-off", cells: [4]string{"true", "true", "false", "false"}},
	{name: "totp-preferred-sms-on", cells: [4]string{"true", "false", "true", "true"}},
}

// invalidAsk is a row the tool refuses before any call.
var invalidAsk = stateAsk{name: "two-preferred", cells: [4]string{"true", "true", "true", "true"}, code: "MultiplePreferred"}

// stateRow is one rollout row and the user it names.
type stateRow struct {
	id, username string
	user         *user // nil: the pool has no such user
	ask          stateAsk
}

// readable reports whether the tool can read the row's user: a valid row
// of a user who exists, with a token that is not revoked.
func (r stateRow) readable() bool {
	return r.ask.code == "" && r.user != nil && !r.user.Spec.Revoked
}

// readCode is the service's answer to reading an unreadable row's user.
func (r stateRow) readCode() string {
	if r.user == nil {
		return "UserNotFoundException"
	}
	return "NotAuthorizedException"
}

// asked is the state the row asks its user into.
func (r stateRow) asked() mfaState { return r.user.Before.with(r.ask.cells) }

// change reports whether the row's write changes its user's state.
func (r stateRow) change() bool { return !r.asked().equal(r.user.Before) }

// writeCode is the service's answer to the row's write: Cognito refuses
// TOTP to a user who never verified a software token.
func (r stateRow) writeCode() string {
	if on, _ := strconv.ParseBool(r.ask.cells[2]); on && !r.user.Spec.VerifiedTOTP {
		return "InvalidParameterException"
	}
	return ""
}

// with is the state s becomes when cells are written, as Cognito
// documents SetUserMFAPreference: a factor sent is enabled as sent;
// preferring a factor takes the preference from the other, and a factor
// sent not preferred loses it. It is the test's own model, not the tool's.
func (s mfaState) with(cells [4]string) mfaState {
	enabled := map[string]bool{}
	for _, f := range s.Enabled {
		enabled[f] = true
	}
	preferred := s.Preferred
	for i, f := range []string{smsMFA, totpMFA} {
		if cells[2*i] == "" && cells[2*i+1] == "" {
			continue
		}
		on, _ := strconv.ParseBool(cells[2*i])
		pref, _ := strconv.ParseBool(cells[2*i+1])
		enabled[f] = on
		switch {
		case pref:
			preferred = f
		case preferred == f:
			preferred = ""
		}
	}
	var list []string
	for f, on := range enabled {
		if on {
			list = append(list, f)
		}
	}
	return mfa(preferred, list...)
}

// short is the state as the report's before and after columns write it,
// by the contract: enabled factors in the order sms, totp, the preferred
// one starred; "none" for no factor.
func (s mfaState) short() string {
	var parts []string
	for _, f := range []struct{ api, name string }{{smsMFA, "sms"}, {totpMFA, "totp"}} {
		switch {
		case s.Preferred == f.api:
			parts = append(parts, f.name+"*")
		case slices.Contains(s.Enabled, f.api):
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// stateMode is how a mode's rollout is made and run.
type stateMode struct {
	name string
	// admin rows name users; token rows carry their access tokens.
	admin bool
	env   []string // what the tool's runs add to the environment
}

// TestStateE2E runs a rollout's plan and apply with verify against moto,
// in admin mode and in token mode, each in an emulator of its own.
func TestStateE2E(t *testing.T) {
	requireMoto(t)
	tl := newTool(t)
	for _, m := range []stateMode{
		{name: "admin", admin: true, env: []string{"AWS_ACCESS_KEY_ID=" + stateKeyID, "AWS_SECRET_ACCESS_KEY=" + stateSecret}},
		{name: "token"},
	} {
		t.Run(m.name, func(t *testing.T) { testStateRollout(t, tl, m) })
	}
}

// The admin runs' credentials: moto takes any, and none of their
// 16-character pieces may appear in anything the tool writes.
const (
	stateKeyID  = "AKIAE2ESTATE7EXAMPLE"
	stateSecret = "e2eStateSecret/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// rollout is one mode's users, rows and runs against one emulator.
type rollout struct {
	t        *testing.T
	tl       *tool
	mode     stateMode
	endpoint string
	c        *cip.Client
	p        pool
	dir      string
	rows     []stateRow
	users    []*user
}

// testStateRollout: an export (admin mode) is what AdminGetUser reports; a
// plan writes nothing and names exactly the rows that differ;
// --skip-unchanged --verify writes only those, and records each user's
// state before and after; the rollback of that report puts every user
// back, and so (admin mode) does running the export.
func testStateRollout(t *testing.T, tl *tool, m stateMode) {
	n := 300
	if testing.Short() {
		n = 60
	}
	ro := newRollout(t, tl, m, n)
	manifest := ro.manifest("rollout.csv")
	before := func(r stateRow) mfaState { return r.user.Before }
	applied := func(r stateRow) mfaState {
		if r.readable() && r.writeCode() == "" {
			return r.asked()
		}
		return r.user.Before
	}
	var backup string
	if m.admin {
		backup = ro.export("backup.csv")
	}

	res, report, took := ro.run("plan", manifest, "--plan")
	calls := ro.checkStep("plan", res, report, planPhase)
	ro.checkUsers(before)
	ro.logFigures("plan", report, calls, took)

	res, report, took = ro.run("apply", manifest, "--skip-unchanged", "--verify")
	calls = ro.checkStep("apply", res, report, applyPhase)
	ro.checkUsers(applied)
	ro.logFigures("skip-unchanged --verify", report, calls, took)

	ro.rollBack(manifest)
	ro.checkUsers(before)
	if !m.admin {
		return
	}
	// The rollout again, then the backup: every user as the export found it.
	ro.run("again", manifest)
	ro.checkUsers(applied)
	res, report, took = ro.run("restore", backup, "--verify")
	if res.exit != 0 {
		t.Errorf("running the export: exit %d, want 0\nstderr:\n%s", res.exit, tail(res.stderr))
	}
	ro.checkUsers(before)
	t.Logf("%s restore from the export: %d rows (%s) in %.2f s", m.name, len(report), statusCounts(report), took.Seconds())
	if again := ro.export("backup-again.csv"); !bytes.Equal(mustRead(t, again), mustRead(t, backup)) {
		t.Errorf("an export after the restore differs from the export before the rollout")
	}
}

func newRollout(t *testing.T, tl *tool, m stateMode, n int) *rollout {
	ctx := t.Context()
	ro := &rollout{t: t, tl: tl, mode: m, endpoint: startMoto(t), dir: t.TempDir()}
	ro.c = newCognito(ro.endpoint)
	ro.p = createPool(t, ctx, ro.c, "e2e-state-"+m.name)
	start := time.Now()
	ro.rows, ro.users = stateRows(t, ro.c, ro.p, m, n)
	t.Logf("%s: set up %d users for %d rows in %v", m.name, len(ro.users), n, time.Since(start).Round(time.Millisecond))
	return ro
}

// stateRows makes n rows: each starting state meets each ask in turn;
// every 30th row names a user the pool lacks (admin mode) or whose token
// is revoked (token mode), and every 41st asks for two preferred factors.
func stateRows(t *testing.T, c *cip.Client, p pool, m stateMode, n int) ([]stateRow, []*user) {
	t.Helper()
	rows := make([]stateRow, n)
	var specs []userSpec
	for i := range rows {
		start := stateStarts[i%len(stateStarts)]
		r := stateRow{id: fmt.Sprintf("row-%04d", i+1), ask: stateAsks[i/len(stateStarts)%len(stateAsks)]}
		r.username = fmt.Sprintf("%s-%04d", start.Name, i)
		if i%41 == 40 {
			r.ask = invalidAsk
		}
		if i%30 == 29 {
			if m.admin {
				r.username = fmt.Sprintf("nouser-%04d", i)
				rows[i] = r
				continue
			}
			start.Revoked = true
		}
		start.Name = r.username
		specs = append(specs, start)
		rows[i] = r
	}
	users := setupUsers(t, t.Context(), c, p, specs)
	byName := usersByName(users)
	for i := range rows {
		rows[i].user = byName[rows[i].username]
	}
	return rows, users
}

// manifest writes the rollout's rows as a CSV manifest of the mode.
func (ro *rollout) manifest(name string) string {
	if !ro.mode.admin {
		return writeManifest(ro.t, ro.dir, name, ro.mrows())
	}
	recs := make([][]string, len(ro.rows))
	for i, r := range ro.rows {
		recs[i] = append([]string{r.id, r.username, ro.p.ID}, r.ask.cells[:]...)
	}
	return writeCSV(ro.t, ro.dir, name, adminManifestHeader, recs)
}

// checkNoLeak checks that no piece of the mode's secrets, the users'
// tokens or the AWS credentials, is in outputs.
func (ro *rollout) checkNoLeak(outputs map[string][]byte) {
	ro.t.Helper()
	secrets := []mrow{{id: "AWS_ACCESS_KEY_ID", token: stateKeyID}, {id: "AWS_SECRET_ACCESS_KEY", token: stateSecret}}
	if !ro.mode.admin {
		secrets = ro.mrows()
	}
	checkNoTokenLeak(ro.t, secrets, outputs)
}

// mrows are the rows as token-mode manifest rows.
func (ro *rollout) mrows() []mrow {
	rows := make([]mrow, len(ro.rows))
	for i, r := range ro.rows {
		rows[i] = mrow{id: r.id, token: r.user.AccessToken, cells: r.ask.cells, user: r.user}
	}
	return rows
}

// run runs the tool over manifest with flags, the report in the scratch
// directory, every call logged; it returns the run, its report and its
// wall time.
func (ro *rollout) run(name, manifest string, flags ...string) (toolResult, []map[string]string, time.Duration) {
	report := ro.reportPath(name)
	args := []string{"run", "--endpoint-url", ro.endpoint, "--rps", "0", "--read-rps", "0", "--workers", "16",
		"--report", report, "--log-level", "debug", "--log-format", "json"}
	start := time.Now()
	res := ro.tl.runEnv(ro.t, ro.mode.env, append(append(args, flags...), manifest)...)
	took := time.Since(start)
	ro.checkNoLeak(map[string][]byte{
		name + " stdout": res.stdout, name + " stderr": res.stderr, name + " report": mustRead(ro.t, report),
	})
	return res, readReport(ro.t, report), took
}

func (ro *rollout) reportPath(name string) string { return filepath.Join(ro.dir, name+"-report.csv") }

// checkUsers reads every user back and compares each with want of its row.
func (ro *rollout) checkUsers(want func(stateRow) mfaState) {
	ro.t.Helper()
	byName := map[string]stateRow{}
	for _, r := range ro.rows {
		byName[r.username] = r
	}
	checkMFA(ro.t, ro.t.Context(), ro.c, ro.p, ro.users, func(i int) mfaState {
		return want(byName[ro.users[i].Spec.Name])
	})
}

// statePhase is which step of the rollout a report comes from.
type statePhase int

const (
	planPhase  statePhase = iota // run --plan
	applyPhase                   // run --skip-unchanged --verify
)

// stateWant is what a report row must say.
type stateWant struct {
	status, code, action, before, after string
	attempts                            int
	reads, writes                       int // the calls behind attempts
}

// want is what the row's report row says in the phase.
func (r stateRow) want(ph statePhase) stateWant {
	switch {
	case r.ask.code != "":
		return stateWant{status: "invalid", code: r.ask.code}
	case !r.readable():
		return stateWant{status: "failed", code: r.readCode(), attempts: 1, reads: 1}
	}
	w := stateWant{action: "none", before: r.user.Before.short(), after: r.asked().short(), attempts: 1, reads: 1}
	if r.change() {
		w.action = "change"
	}
	switch {
	case ph == planPhase:
		w.status = "planned"
	case !r.change():
		w.status, w.code = "skipped", "Unchanged"
	case r.writeCode() != "":
		// A write that fails is not read back: after is unknown, empty.
		w.status, w.code, w.attempts, w.writes, w.after = "failed", r.writeCode(), 2, 1, ""
	default:
		w.status, w.attempts, w.reads, w.writes = "succeeded", 3, 2, 1
	}
	return w
}

// stepCalls counts a step's calls: by the tool's debug log, and by the
// report's rows.
type stepCalls struct {
	logged map[string]int // calls in the tool's log, by op (read, write)
	want   stateWant      // reads and writes the rows should have made
}

// checkStep checks a step's exit code, its report row by row, the calls
// its log shows, and for a plan the last line of standard error.
func (ro *rollout) checkStep(name string, res toolResult, report []map[string]string, ph statePhase) stepCalls {
	t := ro.t
	t.Helper()
	var sc stepCalls
	exit, invalid, unreadable, change := 0, 0, 0, 0
	for _, r := range ro.rows {
		w := r.want(ph)
		sc.want.reads += w.reads
		sc.want.writes += w.writes
		switch {
		case w.status == "invalid":
			invalid++
		case w.status == "failed" && w.writes == 0:
			unreadable++
		case w.action == "change":
			change++
		}
		if w.status == "failed" || w.status == "invalid" {
			exit = 1
		}
	}
	if res.exit != exit {
		t.Errorf("%s: exit %d, want %d\nstderr:\n%s", name, res.exit, exit, tail(res.stderr))
	}
	ro.checkStateReport(name, report, ph)
	sc.logged = loggedCalls(t, res.stderr)
	if sc.logged["read"] != sc.want.reads || sc.logged["write"] != sc.want.writes {
		t.Errorf("%s: the log shows %d reads and %d writes, want %d and %d", name,
			sc.logged["read"], sc.logged["write"], sc.want.reads, sc.want.writes)
	}
	if ph == planPhase {
		want := fmt.Sprintf("mfabatch: plan: %d to change, %d unchanged, %d invalid, %d unreadable",
			change, len(ro.rows)-change-invalid-unreadable, invalid, unreadable)
		if got := lastLine(res.stderr, "mfabatch: plan: "); got != want {
			t.Errorf("%s: the last plan line of stderr is\n%q, want\n%q", name, got, want)
		}
	}
	return sc
}

// checkStateReport checks the report has one row per manifest row, each
// naming its row and saying what came of it.
func (ro *rollout) checkStateReport(name string, report []map[string]string, ph statePhase) {
	t := ro.t
	t.Helper()
	if len(report) != len(ro.rows) {
		t.Errorf("%s: report has %d rows, manifest %d", name, len(report), len(ro.rows))
	}
	byRow := map[int]map[string]string{}
	for _, got := range report {
		n, err := strconv.Atoi(got["row"])
		if _, dup := byRow[n]; err != nil || dup || n < 1 || n > len(ro.rows) {
			t.Errorf("%s: report row %q (id %q): not a manifest row, or twice", name, got["row"], got["id"])
		}
		byRow[n] = got
	}
	wrong := 0
	for i, r := range ro.rows {
		problems := ro.stateRowProblems(r, byRow[i+1], ph)
		if len(problems) > 0 {
			if wrong++; wrong <= 10 {
				t.Errorf("%s: report row %d (id %q, user %q, ask %s): %s\nrow: %v", name, i+1, r.id, r.username,
					r.ask.name, strings.Join(problems, "; "), byRow[i+1])
			}
		}
	}
	if wrong > 10 {
		t.Errorf("%s: ... %d report rows wrong in all", name, wrong)
	}
}

func (ro *rollout) stateRowProblems(r stateRow, got map[string]string, ph statePhase) []string {
	if got == nil {
		return []string{"missing from the report"}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	w := r.want(ph)
	if got["id"] != r.id || got["username"] != r.username {
		bad("id/username %q/%q, want %q/%q", got["id"], got["username"], r.id, r.username)
	}
	if got["status"] != w.status || got["error_code"] != w.code {
		bad("status %q/%q, want %q/%q (%s)", got["status"], got["error_code"], w.status, w.code, got["error_message"])
	}
	if got["action"] != w.action || got["before"] != w.before || got["after"] != w.after {
		bad("action/before/after %q/%q/%q, want %q/%q/%q", got["action"], got["before"], got["after"], w.action, w.before, w.after)
	}
	if attempts, _ := strconv.Atoi(got["attempts"]); attempts != w.attempts {
		bad("attempts %q, want %d (%d reads, %d writes)", got["attempts"], w.attempts, w.reads, w.writes)
	}
	return errs
}

// loggedCalls counts the calls in the tool's JSON debug log by op.
func loggedCalls(t *testing.T, stderr []byte) map[string]int {
	t.Helper()
	calls := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Msg, Op string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "attempt" {
			calls[rec.Op]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// lastLine is the last line of out that starts with prefix, "" if none.
func lastLine(out []byte, prefix string) string {
	last := ""
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, prefix) {
			last = strings.TrimRight(line, "\r\n")
		}
	}
	return last
}

// tail is the end of a run's standard error, for a failure message: a
// debug log holds a line per call.
func tail(stderr []byte) []byte {
	if len(stderr) > 4000 {
		return stderr[len(stderr)-4000:]
	}
	return stderr
}

// logFigures logs what a step did, for the closing note.
func (ro *rollout) logFigures(step string, report []map[string]string, sc stepCalls, took time.Duration) {
	ro.t.Logf("%s %s: %d users, %d rows (%s); %d writes, %d reads; %.2f s",
		ro.mode.name, step, len(ro.users), len(report), statusCounts(report),
		sc.logged["write"], sc.logged["read"], took.Seconds())
}

// statusCounts says how many report rows have each status and action.
func statusCounts(report []map[string]string) string {
	counts := map[string]int{}
	for _, got := range report {
		counts[strings.TrimSuffix(got["status"]+"/"+got["action"], "/")]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// export runs `mfabatch export` of the pool into name, and checks it
// names every user once, with the state AdminGetUser reported, set in
// every column that restores it.
func (ro *rollout) export(name string) string {
	t := ro.t
	t.Helper()
	path := filepath.Join(ro.dir, name)
	start := time.Now()
	res := ro.tl.runEnv(t, ro.mode.env, "export", "--user-pool-id", ro.p.ID, "--endpoint-url", ro.endpoint,
		"--read-rps", "0", "--output", path)
	took := time.Since(start)
	if res.exit != 0 {
		t.Fatalf("export: exit %d, want 0\nstderr:\n%s", res.exit, tail(res.stderr))
	}
	ro.checkNoLeak(map[string][]byte{"export stdout": res.stdout, "export stderr": res.stderr, "export": mustRead(t, path)})
	_, rows := readCSV(t, path)
	byName := usersByName(ro.users)
	seen, wrong := map[string]bool{}, 0
	for i, got := range rows {
		u := byName[got["username"]]
		st, err := exportedState(got)
		switch {
		case u == nil || seen[u.Spec.Name]:
			err = fmt.Errorf("not a user of the pool, or twice")
		case got["user_pool_id"] != ro.p.ID:
			err = fmt.Errorf("user_pool_id %q, want %q", got["user_pool_id"], ro.p.ID)
		case err == nil && !st.equal(u.Before):
			err = fmt.Errorf("state %v, AdminGetUser says %v", st, u.Before)
		}
		if u != nil {
			seen[u.Spec.Name] = true
		}
		if err != nil {
			if wrong++; wrong <= 10 {
				t.Errorf("export line %d (username %q): %v\nrow: %v", i+2, got["username"], err, got)
			}
		}
	}
	if len(seen) != len(ro.users) {
		t.Errorf("export names %d of the pool's %d users", len(seen), len(ro.users))
	}
	t.Logf("%s export: %d users, %d rows in %.2f s", ro.mode.name, len(ro.users), len(rows), took.Seconds())
	return path
}

// exportedState is the state an export row restores. Each factor
// AdminGetUser reports (SMS, TOTP, email) must be set, false included,
// or running the export would leave it as it then is; passkeys, which it
// does not report, are left blank.
func exportedState(got map[string]string) (mfaState, error) {
	var enabled []string
	preferred := ""
	for _, f := range []struct{ col, api string }{{"sms", smsMFA}, {"software_token", totpMFA}, {"email", "EMAIL_OTP"}} {
		on, err1 := strconv.ParseBool(got[f.col+"_enabled"])
		pref, err2 := strconv.ParseBool(got[f.col+"_preferred"])
		if err1 != nil || err2 != nil {
			return mfaState{}, fmt.Errorf("%s_enabled/%s_preferred %q/%q: a backup sets every factor AdminGetUser reports",
				f.col, f.col, got[f.col+"_enabled"], got[f.col+"_preferred"])
		}
		if on {
			enabled = append(enabled, f.api)
		}
		if pref {
			preferred = f.api
		}
	}
	if got["webauthn_enabled"] != "" {
		return mfaState{}, fmt.Errorf("webauthn_enabled %q: AdminGetUser does not report passkeys", got["webauthn_enabled"])
	}
	return mfa(preferred, enabled...), nil
}

// key names a row's user as manifests and reports of the mode do: by
// username, or by the token's fingerprint.
func (ro *rollout) key(r stateRow) string {
	if ro.mode.admin {
		return r.username
	}
	return fingerprint(r.user.AccessToken)
}

// keyOf is key for a manifest or report row the tool wrote.
func (ro *rollout) keyOf(got map[string]string) string {
	switch tok, ok := got["access_token"]; {
	case ro.mode.admin:
		return got["username"]
	case ok:
		return fingerprint(tok)
	}
	return got["token_sha256"]
}

// rollBack makes the rollback of the apply step's report, checks that it
// puts back exactly the users the step changed, and runs it with
// --verify: every user it names ends as it began.
func (ro *rollout) rollBack(manifest string) {
	t := ro.t
	t.Helper()
	undo := filepath.Join(ro.dir, "undo.csv")
	args := []string{"rollback", "--output", undo}
	if !ro.mode.admin {
		args = append(args, "--manifest", manifest)
	}
	res := ro.tl.run(t, append(args, ro.reportPath("apply"))...)
	if res.exit != 0 {
		t.Fatalf("rollback: exit %d, want 0\nstderr:\n%s", res.exit, tail(res.stderr))
	}
	ro.checkNoLeak(map[string][]byte{"rollback stdout": res.stdout, "rollback stderr": res.stderr})
	changed := map[string]stateRow{}
	nothing := map[string]int{} // rows that changed nothing, by status
	for _, r := range ro.rows {
		if w := r.want(applyPhase); w.status == "succeeded" {
			changed[ro.key(r)] = r
		} else {
			nothing[w.status]++
		}
	}
	want := fmt.Sprintf("mfabatch: rollback: the report has %d rows: %d changed, %d changed nothing (failed %d, invalid %d, skipped %d)\n"+
		"mfabatch: rollback: %d rows to put back, 0 left out",
		len(ro.rows), len(changed), len(ro.rows)-len(changed), nothing["failed"], nothing["invalid"], nothing["skipped"], len(changed))
	if got := lastLine(res.stderr, "mfabatch: rollback: the report") + "\n" + lastLine(res.stderr, "mfabatch: rollback: "); got != want {
		t.Errorf("rollback's standard error says\n%s\nwant\n%s", got, want)
	}
	_, rows := readCSV(t, undo)
	ro.checkUndo(rows, changed)

	res, report, took := ro.run("undo", undo, "--verify")
	if res.exit != 0 {
		t.Errorf("running the rollback: exit %d, want 0\nstderr:\n%s", res.exit, tail(res.stderr))
	}
	for _, got := range report {
		r, ok := changed[ro.keyOf(got)]
		if !ok || got["status"] != "succeeded" || got["after"] != r.user.Before.short() {
			t.Errorf("rollback run: report row %s: status %q/%q, after %q; want succeeded and the state before the rollout",
				got["row"], got["status"], got["error_code"], got["after"])
		}
	}
	calls := loggedCalls(t, res.stderr)
	t.Logf("%s rollback: %d users changed, %d rows put back (%s); %d writes, %d reads; %.2f s",
		ro.mode.name, len(changed), len(report), statusCounts(report), calls["write"], calls["read"], took.Seconds())
}

// checkUndo checks a rollback manifest names each user in changed once,
// with settings that take it from the state the rollout asked back to
// the state it had.
func (ro *rollout) checkUndo(rows []map[string]string, changed map[string]stateRow) {
	t := ro.t
	t.Helper()
	seen := map[string]bool{}
	for i, got := range rows {
		k := ro.keyOf(got)
		r, ok := changed[k]
		cells := [4]string{got["sms_enabled"], got["sms_preferred"], got["software_token_enabled"], got["software_token_preferred"]}
		switch {
		case !ok || seen[k]:
			t.Errorf("rollback line %d (id %q): a user the rollout did not change, or twice", i+2, got["id"])
		case ro.mode.admin && got["user_pool_id"] != ro.p.ID:
			t.Errorf("rollback line %d (user %q): user_pool_id %q, want %q", i+2, r.username, got["user_pool_id"], ro.p.ID)
		default:
			if back := r.asked().with(cells); !back.equal(r.user.Before) {
				t.Errorf("rollback line %d (user %q): settings %q take %v to %v, not back to %v",
					i+2, r.username, cells, r.asked(), back, r.user.Before)
			}
		}
		if ok {
			seen[k] = true
		}
	}
	if len(seen) != len(changed) {
		t.Errorf("rollback puts back %d users, the rollout changed %d", len(seen), len(changed))
	}
}
