package main_test

// End-to-end tests of admin mode: the built binary sets users' MFA by user
// name with AdminSetUserMFAPreference against moto_server, and every user
// is read back with AdminGetUser. moto does not check signatures; the
// cognitotest tests do.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// adminCase is one kind of admin manifest row. A user who is not there
// is not created: the row names a user the pool lacks.
type adminCase struct {
	scenario
	missing bool
}

// adminCases mix the starting states an operator meets: users with a
// verified software token, with SMS on, with nothing; TOTP asked for users
// who never verified a token; and users who do not exist. They are the
// token mode's scenarios, but for a revoked token, which admin mode does
// not use.
var adminCases = func() []adminCase {
	var cases []adminCase
	for _, sc := range applyScenarios {
		if sc.name != "revoked" {
			cases = append(cases, adminCase{scenario: sc})
		}
	}
	return append(cases, adminCase{missing: true, scenario: scenario{
		name:   "no-such-user",
		cells:  [4]string{"true", "", "", ""},
		req:    map[string]any{"SMSMfaSettings": block(true, false)},
		status: "failed",
		code:   "UserNotFoundException",
	}})
}()

// adminRow is one admin manifest row and what must come of it.
type adminRow struct {
	adminCase
	id, username string
	user         *user // nil for a user who does not exist
}

// TestAdminE2E runs about 500 admin rows (64 with -short) against moto:
// a dry run and a live run without credentials change nothing; the live
// run with credentials sets every user that exists as asked, and reports
// every row once with the service's answer; a run resumed from its
// report sends only the rows that did not succeed.
func TestAdminE2E(t *testing.T) {
	requireMoto(t)
	tl := newTool(t)
	n := 504
	if testing.Short() {
		n = 64
	}
	ctx := t.Context()
	endpoint := startMoto(t)
	c := newCognito(endpoint)
	p := createPool(t, ctx, c, "e2e-admin")

	rows, users := adminRows(t, c, p, n)
	dir := t.TempDir()
	manifest := writeAdminManifest(t, dir, p.ID, rows)
	run := func(env []string, name string, flags ...string) (toolResult, string) {
		report := filepath.Join(dir, name+".csv")
		args := append([]string{"run", "--endpoint-url", endpoint, "--rps", "0", "--workers", "16", "--report", report}, flags...)
		return tl.runEnv(t, env, append(args, manifest)...), report
	}
	creds := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}

	// A dry run needs no credentials.
	res, report := run(nil, "dry-run", "--dry-run")
	if res.exit != 0 {
		t.Errorf("dry run without credentials: exit %d, want 0\nstderr:\n%s", res.exit, res.stderr)
	}
	checkAdminReport(t, rows, readReport(t, report), dryRunPhase)

	// A live run without credentials stops before any call.
	res, _ = run(nil, "no-creds")
	if res.exit != 2 {
		t.Errorf("live run without credentials: exit %d, want 2\nstderr:\n%s", res.exit, res.stderr)
	}
	checkMFA(t, ctx, c, p, users, func(i int) mfaState { return users[i].Before })

	res, report = run(creds, "live", "--summary", filepath.Join(dir, "summary.json"))
	if res.exit != 1 {
		t.Errorf("live run: exit %d, want 1 (rows for missing users and unverified TOTP fail)\nstderr:\n%s", res.exit, res.stderr)
	}
	got := readReport(t, report)
	checkAdminReport(t, rows, got, livePhase)
	after := map[string]mfaState{}
	set := 0
	for _, r := range rows {
		if r.user != nil {
			after[r.username] = r.after
		}
		if r.status == "succeeded" {
			set++
		}
	}
	checkMFA(t, ctx, c, p, users, func(i int) mfaState { return after[users[i].Spec.Name] })

	// Resumed from that report, keyed by pool and user name (a user name
	// escaped in the CSV report included), the rows that succeeded are
	// skipped and the others sent again, to fail again: every row sent
	// fails, so the failure threshold is off.
	res, resumed := run(creds, "resumed", "--resume", report, "--max-failures", "off")
	if res.exit != 1 {
		t.Errorf("resumed run: exit %d, want 1\nstderr:\n%s", res.exit, res.stderr)
	}
	checkAdminReport(t, rows, readReport(t, resumed), resumePhase)
	checkMFA(t, ctx, c, p, users, func(i int) mfaState { return after[users[i].Spec.Name] })
	t.Logf("admin e2e: %d manifest rows (%d users, %d missing); users set: %d; users read back: %d; report rows: %d",
		len(rows), len(users), len(rows)-len(users), set, len(users), len(got))

	// The same users in JSON Lines of the API's shape, as the AWS CLI's
	// skeleton has them, their pool from --user-pool-id: each gets SMS,
	// preferred, beside what it has.
	var jl bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&jl, `{"Username":%q,"SMSMfaSettings":{"Enabled":true,"PreferredMfa":true}}`+"\n", u.Spec.Name)
	}
	jsonl := filepath.Join(dir, "sms.jsonl")
	if err := os.WriteFile(jsonl, jl.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	smsReport := filepath.Join(dir, "sms.csv")
	res = tl.runEnv(t, creds, "run", "--endpoint-url", endpoint, "--rps", "0", "--user-pool-id", p.ID, "--report", smsReport, jsonl)
	if res.exit != 0 {
		t.Errorf("JSON Lines run: exit %d, want 0\nstderr:\n%s", res.exit, res.stderr)
	}
	if sms := readReport(t, smsReport); len(sms) != len(users) {
		t.Errorf("JSON Lines report has %d rows, want %d", len(sms), len(users))
	}
	checkMFA(t, ctx, c, p, users, func(i int) mfaState {
		s := after[users[i].Spec.Name]
		enabled := slices.Clone(s.Enabled)
		if !slices.Contains(enabled, "SMS_MFA") {
			enabled = append(enabled, "SMS_MFA")
			slices.Sort(enabled)
		}
		return mfaState{Enabled: enabled, Preferred: "SMS_MFA"}
	})
}

// adminRows creates the users of n rows, the cases in turn, and returns
// the rows and the users that exist, in manifest order.
func adminRows(t *testing.T, c *cip.Client, p pool, n int) ([]adminRow, []*user) {
	t.Helper()
	rows := make([]adminRow, n)
	var specs []userSpec
	for i := range rows {
		ac := adminCases[i%len(adminCases)]
		// A user name a spreadsheet would take for a formula comes back
		// from a CSV report escaped; the tool must undo it.
		name := fmt.Sprintf("admin-%04d", i)
		if i%50 == 7 {
			name = fmt.Sprintf("+1555%07d", i)
		}
		rows[i] = adminRow{adminCase: ac, id: "row-" + strconv.Itoa(i+1), username: name}
		if !ac.missing {
			s := ac.spec
			s.Name = name
			specs = append(specs, s)
		}
	}
	users := setupUsers(t, t.Context(), c, p, specs)
	byName := usersByName(users)
	for i := range rows {
		rows[i].user = byName[rows[i].username]
	}
	return rows, users
}

var adminManifestHeader = []string{
	"id", "username", "user_pool_id", "sms_enabled", "sms_preferred", "software_token_enabled", "software_token_preferred",
}

func writeAdminManifest(t *testing.T, dir, poolID string, rows []adminRow) string {
	t.Helper()
	recs := make([][]string, len(rows))
	for i, r := range rows {
		recs[i] = append([]string{r.id, r.username, poolID}, r.cells[:]...)
	}
	return writeCSV(t, dir, "admin.csv", adminManifestHeader, recs)
}

// phase is which run a report comes from.
type phase int

const (
	dryRunPhase phase = iota // --dry-run: every row dry_run
	livePhase                // every row sent
	resumePhase              // --resume from the live run: its successes skipped
)

// checkAdminReport checks the report has exactly one row per manifest
// row, and that each says what became of it in the phase.
func checkAdminReport(t *testing.T, rows []adminRow, report []map[string]string, ph phase) {
	t.Helper()
	if len(report) != len(rows) {
		t.Errorf("report has %d rows, manifest %d", len(report), len(rows))
	}
	byRow := map[int]map[string]string{}
	for _, r := range report {
		n, err := strconv.Atoi(r["row"])
		if _, dup := byRow[n]; err != nil || dup || n < 1 || n > len(rows) {
			t.Errorf("report row %q (id %q): not a manifest row, or twice", r["row"], r["id"])
		}
		byRow[n] = r
	}
	wrong := 0
	for i, want := range rows {
		got, ok := byRow[i+1]
		problems := adminRowProblems(want, got, ph)
		if !ok {
			problems = []string{"missing from the report"}
		}
		if len(problems) > 0 {
			if wrong++; wrong <= 10 {
				t.Errorf("report row %d (id %q): %s\nrow: %v", i+1, want.id, strings.Join(problems, "; "), got)
			}
		}
	}
	if wrong > 10 {
		t.Errorf("... %d report rows wrong in all", wrong)
	}
}

func adminRowProblems(want adminRow, got map[string]string, ph phase) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	status, code, attempts, httpStatus := want.status, want.code, "1", "400"
	switch {
	case ph == dryRunPhase:
		status, code, attempts, httpStatus = "dry_run", "", "0", ""
	case ph == resumePhase && status == "succeeded":
		status, code, attempts, httpStatus = "skipped", "AlreadySucceeded", "0", ""
	case status == "succeeded":
		httpStatus = "200"
	}
	dryRun := attempts == "0"
	if got["status"] != status || got["error_code"] != code {
		bad("status %q/%q, want %q/%q (%s)", got["status"], got["error_code"], status, code, got["error_message"])
	}
	if got["attempts"] != attempts && !(dryRun && got["attempts"] == "") {
		bad("attempts %q, want %s (nothing here is retried)", got["attempts"], attempts)
	}
	if got["http_status"] != httpStatus {
		bad("http_status %q, want %q", got["http_status"], httpStatus)
	}
	if !dryRun && got["request_id"] == "" {
		bad("no request_id, though moto sends one")
	}
	username := got["username"]
	if strings.HasPrefix(want.username, "+") {
		username = strings.TrimPrefix(username, "'") // a CSV cell escaped against formulas
	}
	if got["id"] != want.id || username != want.username || got["user_pool_id"] == "" ||
		got["region"] != motoRegion || got["token_sha256"] != "" || got["sub"] != "" {
		bad("id/username/user_pool_id/region/token_sha256/sub %q/%q/%q/%q/%q/%q, want %q/%q/the pool/%q/empty/empty",
			got["id"], got["username"], got["user_pool_id"], got["region"], got["token_sha256"], got["sub"],
			want.id, want.username, motoRegion)
	}
	if dryRun && ph != dryRunPhase {
		return errs // a row skipped shows no request
	}
	wantReq := map[string]any{"UserPoolId": got["user_pool_id"], "Username": want.username}
	for k, v := range want.req {
		wantReq[k] = v
	}
	var gotReq map[string]any
	if err := json.Unmarshal([]byte(got["request"]), &gotReq); err != nil || !reflect.DeepEqual(gotReq, wantReq) {
		bad("request %s, want %s", got["request"], mustJSON(wantReq))
	}
	return errs
}
