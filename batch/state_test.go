package batch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"

	"github.com/mfabatch/mfabatch/batch"
)

func state(t *testing.T, s string) batch.State {
	t.Helper()
	st, err := batch.ParseState(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStateString(t *testing.T) {
	pref := func(s string) *string { return &s }
	for _, c := range []struct {
		list      []string
		preferred *string
		want      string
	}{
		{nil, nil, "none"},
		{[]string{"SOFTWARE_TOKEN_MFA", "SMS_MFA"}, pref("SOFTWARE_TOKEN_MFA"), "sms,totp*"},
		{[]string{"EMAIL_OTP"}, nil, "email"},
		{[]string{"SMS_MFA", "EMAIL_OTP", "SOFTWARE_TOKEN_MFA"}, pref("EMAIL_OTP"), "sms,totp,email*"},
		{[]string{"WEB_AUTHN", "SMS_MFA"}, pref("WEB_AUTHN"), "sms"}, // names this tool does not know are left out
		{nil, pref("SMS_MFA"), "sms*"},                               // as the hosted UI can leave it
	} {
		st := batch.StateOf(c.list, c.preferred)
		if got := st.String(); got != c.want {
			t.Errorf("StateOf(%v, %v) = %q, want %q", c.list, aws.ToString(c.preferred), got, c.want)
		}
		back := state(t, st.String())
		if back.String() != st.String() {
			t.Errorf("%q reads back as %q", st, back)
		}
	}
	if s := (batch.State{}).String(); s != "" {
		t.Errorf("a state not read is %q, want empty", s)
	}
	if st := state(t, ""); st.Known() {
		t.Error(`"" reads as a known state`)
	}
	for _, bad := range []string{"sms,sms", "sms*,totp*", "fax", "sms,", "SMS", "totp**", "none,sms"} {
		if _, err := batch.ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) = nil error", bad)
		} else if !strings.Contains(err.Error(), "MFA state") {
			t.Errorf("ParseState(%q): %v", bad, err)
		}
	}
}

// settings reads a row's settings from shorthand such as "sms=1/1,totp=1/".
func settings(t *testing.T, s string) batch.Settings {
	t.Helper()
	var out batch.Settings
	for part := range strings.SplitSeq(s, ",") {
		name, v, _ := strings.Cut(part, "=")
		e, p, _ := strings.Cut(v, "/")
		f := map[string]*batch.Factor{"sms": &out.SMS, "totp": &out.SoftwareToken, "email": &out.Email, "passkey": &out.WebAuthn}[name]
		var err error
		if f.Enabled, err = batch.ParseBool(e); err != nil {
			t.Fatal(err)
		}
		if f.Preferred, err = batch.ParseBool(p); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// With is the state a write leaves, and Meets says whether the state is
// already what a row sends: fields left blank in a sent block go as false.
func TestStateWithAndMeets(t *testing.T) {
	for _, c := range []struct {
		before, row, after string
		meets              bool
	}{
		{"none", "sms=1/1", "sms*", false},
		{"sms*", "sms=1/1", "sms*", true},
		{"sms*", "sms=1/", "sms", false}, // blank preferred is sent false: the preference goes
		{"sms,totp*", "sms=1/1", "sms*,totp", false},
		{"sms,totp*", "totp=0/", "sms", false},
		{"sms,totp*", "email=0/0", "sms,totp*", true},
		{"sms,totp*", "sms=1/0,totp=1/1", "sms,totp*", true},
		{"totp", "sms=0/0", "totp", true},
		{"none", "passkey=1/", "none", true}, // a passkey is not in the state: With and Meets leave it out
	} {
		s := settings(t, c.row)
		before := state(t, c.before)
		if got := before.With(s).String(); got != c.after {
			t.Errorf("%s with %s = %s, want %s", c.before, c.row, got, c.after)
		}
		if got := before.Meets(s); got != c.meets {
			t.Errorf("%s meets %s = %v, want %v", c.before, c.row, got, c.meets)
		}
		if !before.With(s).Meets(s) {
			t.Errorf("%s with %s does not meet %s", c.before, c.row, c.row)
		}
	}
}

// Restore gives the settings that put a user back: each factor named, and
// the one preferred before; applied to any state, they give back before
// on those factors.
func TestStateRestore(t *testing.T) {
	for _, c := range []struct {
		before  string
		factors []int
		now     string
		want    string
	}{
		{"sms,totp*", []int{0}, "sms*,totp", "sms,totp*"},
		{"none", []int{0, 1, 2}, "sms,totp,email*", "none"},
		{"email*", []int{1}, "totp*", "email*"},
		{"sms", []int{2}, "sms,email*", "sms"},
	} {
		s := state(t, c.before).Restore(c.factors)
		if err := s.Check(); err != nil {
			t.Errorf("restore %s over %v: %v", c.before, c.factors, err)
		}
		if got := state(t, c.now).With(s).String(); got != c.want {
			t.Errorf("restore %s over %v, from %s, gives %s, want %s", c.before, c.factors, c.now, got, c.want)
		}
	}
}

// statefulUsers is a pool of users' MFA states behind a fakeClient: the
// admin write changes them as Cognito does, and AdminGetUser reads them.
// Usernames starting "noapply-" have writes answered and ignored.
type statefulUsers struct {
	mu    sync.Mutex
	state map[string]batch.State
}

func newStatefulUsers(t *testing.T, users map[string]string) (*statefulUsers, *fakeClient) {
	u := &statefulUsers{state: map[string]batch.State{}}
	for name, s := range users {
		u.state[name] = state(t, s)
	}
	f := &fakeClient{}
	f.AdminSetUserMFAPreferenceFn = func(_ context.Context, in *cip.AdminSetUserMFAPreferenceInput, _ ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		name := aws.ToString(in.Username)
		if _, ok := u.state[name]; !ok {
			return nil, &smithy.GenericAPIError{Code: "UserNotFoundException", Message: "User does not exist."}
		}
		if strings.HasPrefix(name, "noapply-") {
			return &cip.AdminSetUserMFAPreferenceOutput{}, nil
		}
		var s batch.Settings
		if b := in.SMSMfaSettings; b != nil {
			s.SMS = batch.Factor{Enabled: boolOf(b.Enabled), Preferred: boolOf(b.PreferredMfa)}
		}
		if b := in.SoftwareTokenMfaSettings; b != nil {
			s.SoftwareToken = batch.Factor{Enabled: boolOf(b.Enabled), Preferred: boolOf(b.PreferredMfa)}
		}
		if b := in.EmailMfaSettings; b != nil {
			s.Email = batch.Factor{Enabled: boolOf(b.Enabled), Preferred: boolOf(b.PreferredMfa)}
		}
		u.state[name] = u.state[name].With(s)
		return &cip.AdminSetUserMFAPreferenceOutput{}, nil
	}
	f.AdminGetUserFn = func(_ context.Context, in *cip.AdminGetUserInput, _ ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		st, ok := u.state[aws.ToString(in.Username)]
		if !ok {
			return nil, &smithy.GenericAPIError{Code: "UserNotFoundException", Message: "User does not exist."}
		}
		out := &cip.AdminGetUserOutput{}
		names := []string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"}
		for i, n := range names {
			if st.Enabled(i) {
				out.UserMFASettingList = append(out.UserMFASettingList, n)
			}
			if st.Preferred(i) {
				out.PreferredMfaSetting = aws.String(n)
			}
		}
		return out, nil
	}
	return u, f
}

func (u *statefulUsers) show(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state[name].String()
}

func boolOf(b bool) batch.Bool {
	if b {
		return batch.True
	}
	return batch.False
}

// stateManifest asks every user for SMS enabled and preferred.
const stateManifest = "id,username,user_pool_id,sms_enabled,sms_preferred\n" +
	"a,ann,eu-west-1_P1,true,true\n" +
	"b,ben,eu-west-1_P1,true,true\n" +
	"c,nouser,eu-west-1_P1,true,true\n" +
	"d,noapply-dee,eu-west-1_P1,true,true\n"

func stateUsers() map[string]string {
	return map[string]string{"ann": "sms*", "ben": "totp*", "noapply-dee": "none"}
}

func TestPlanReadsAndWritesNothing(t *testing.T) {
	u, f := newStatefulUsers(t, stateUsers())
	// --rps so slow that a read waiting on the write limiter would not
	// finish: reads have a limiter of their own.
	cfg := batch.Config{Plan: true, RPS: 0.01, ReadRPS: 0}
	res, sum, err := runAdmin(t, cfg, f, adminCSV(t, stateManifest), 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ status, code, action, before, after string }{
		{"planned", "", "none", "sms*", "sms*"},
		{"planned", "", "change", "totp*", "sms*,totp"},
		{"failed", "UserNotFoundException", "", "", ""},
		{"planned", "", "change", "none", "sms*"},
	}
	for i, w := range want {
		r := res[i]
		if string(r.Status) != w.status || r.ErrorCode != w.code || r.Action != w.action || r.Before.String() != w.before || r.After.String() != w.after {
			t.Errorf("row %d: %s %s action %q before %q after %q, want %s %s %q %q %q", r.Row, r.Status, r.ErrorCode, r.Action, r.Before, r.After, w.status, w.code, w.action, w.before, w.after)
		}
	}
	if msg := res[2].ErrorMessage; msg != "reading the user's MFA state: User does not exist." {
		t.Errorf("unreadable row's message: %q", msg)
	}
	for _, c := range f.Calls() {
		if c.Op != "AdminGetUser" {
			t.Errorf("a plan made a %s call", c.Op)
		}
	}
	if *sum.Planned != 3 || *sum.ToChange != 2 || *sum.Unchanged != 1 || sum.Statuses[batch.StatusFailed] != 1 {
		t.Errorf("summary: planned %d, to change %d, unchanged %d, failed %d", *sum.Planned, *sum.ToChange, *sum.Unchanged, sum.Statuses[batch.StatusFailed])
	}
	if u.show("ben") != "totp*" {
		t.Error("a plan changed a user")
	}
}

func TestSkipUnchangedAndVerify(t *testing.T) {
	u, f := newStatefulUsers(t, stateUsers())
	cfg := batch.Config{SkipUnchanged: true, Verify: true}
	res, sum, err := runAdmin(t, cfg, f, adminCSV(t, stateManifest), 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ status, code, action, before, after string }{
		{"skipped", "Unchanged", "none", "sms*", "sms*"},
		{"succeeded", "", "change", "totp*", "sms*,totp"},
		{"failed", "UserNotFoundException", "", "", ""},
		{"failed", "NotApplied", "change", "none", "none"},
	}
	for i, w := range want {
		r := res[i]
		if string(r.Status) != w.status || r.ErrorCode != w.code || r.Action != w.action || r.Before.String() != w.before || r.After.String() != w.after {
			t.Errorf("row %d: %s %s action %q before %q after %q, want %s %s %q %q %q", r.Row, r.Status, r.ErrorCode, r.Action, r.Before, r.After, w.status, w.code, w.action, w.before, w.after)
		}
	}
	if r := res[3]; !strings.Contains(r.ErrorMessage, "read back is none") || !strings.Contains(r.ErrorMessage, "(sms*)") || r.HTTPStatus != 0 && r.Attempts != 3 {
		t.Errorf("not applied row: %+v", r)
	}
	writes := 0
	for _, c := range f.Calls() {
		if c.Op == "AdminSetUserMFAPreference" {
			writes++
			if c.User == "eu-west-1_P1/ann" {
				t.Error("an unchanged user was written")
			}
		}
	}
	if writes != 2 {
		t.Errorf("%d writes, want 2 (ben, noapply-dee)", writes)
	}
	if u.show("ben") != "sms*,totp" {
		t.Errorf("ben is %s", u.show("ben"))
	}
	if *sum.Changed != 1 || *sum.Unchanged != 1 || *sum.NotApplied != 1 || *sum.Unverified != 0 {
		t.Errorf("summary: changed %d unchanged %d not applied %d unverified %d", *sum.Changed, *sum.Unchanged, *sum.NotApplied, *sum.Unverified)
	}
}

// Verify alone reads no state before the write: after is the state read
// back, action and before stay empty.
func TestVerifyAlone(t *testing.T) {
	_, f := newStatefulUsers(t, stateUsers())
	res, _, err := runAdmin(t, batch.Config{Verify: true}, f, adminCSV(t, stateManifest), 4)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Status != batch.StatusSucceeded || r.Action != "" || r.Before.Known() || r.After.String() != "sms*" || r.Attempts != 2 {
		t.Errorf("row 1: %s action %q before %q after %q attempts %d", r.Status, r.Action, r.Before, r.After, r.Attempts)
	}
	// The write to an unknown user fails before any read back.
	if r := res[2]; r.Status != batch.StatusFailed || r.ErrorCode != "UserNotFoundException" || r.Attempts != 1 {
		t.Errorf("row 3: %s %s attempts %d", r.Status, r.ErrorCode, r.Attempts)
	}
}

// A write that succeeded stays succeeded when its state cannot be read
// back: the message says so, and the summary counts it unverified.
func TestVerifyReadFails(t *testing.T) {
	_, f := newStatefulUsers(t, stateUsers())
	f.AdminGetUserFn = func(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "InternalErrorException", Message: "boom"}
	}
	cfg := batch.Config{Verify: true, MaxAttempts: 2, BackoffBase: 1, BackoffMax: 1}
	res, sum, err := runAdmin(t, cfg, f, adminCSV(t, "id,username,user_pool_id,sms_enabled\na,ann,eu-west-1_P1,true\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Status != batch.StatusSucceeded || r.ErrorCode != "" || r.After.Known() || r.Attempts != 3 ||
		!strings.HasPrefix(r.ErrorMessage, "written, but the state could not be read back (InternalErrorException: boom; gave up after 2 attempts)") {
		t.Errorf("row: %s %s %q after %q attempts %d", r.Status, r.ErrorCode, r.ErrorMessage, r.After, r.Attempts)
	}
	if *sum.Unverified != 1 || *sum.Changed != 1 {
		t.Errorf("summary: unverified %d changed %d", *sum.Unverified, *sum.Changed)
	}
}

// A throttled read is retried on the read limiter, as a write would be.
func TestThrottledReadsRetry(t *testing.T) {
	_, f := newStatefulUsers(t, stateUsers())
	read := f.AdminGetUserFn
	var n int
	var mu sync.Mutex
	f.AdminGetUserFn = func(ctx context.Context, in *cip.AdminGetUserInput, o ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			return nil, &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded"}
		}
		return read(ctx, in, o...)
	}
	var calls []batch.CallStat
	var cmu sync.Mutex
	cfg := batch.Config{Plan: true, BackoffBase: 1, BackoffMax: 1, OnCall: func(c batch.CallStat) {
		cmu.Lock()
		calls = append(calls, c)
		cmu.Unlock()
	}}
	res, sum, err := runAdmin(t, cfg, f, adminCSV(t, "id,username,user_pool_id,sms_enabled\na,ann,eu-west-1_P1,true\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Status != batch.StatusPlanned || r.Attempts != 2 || r.Before.String() != "sms*" {
		t.Errorf("row: %s attempts %d before %q", r.Status, r.Attempts, r.Before)
	}
	if sum.Throttled != 1 || len(calls) != 2 || calls[0].Op != batch.OpRead || !calls[0].Throttled || !calls[1].Retry {
		t.Errorf("throttled %d, calls %+v", sum.Throttled, calls)
	}
}

// A Prior packs into 16 bits and back, whatever its states.
func TestPriorPack(t *testing.T) {
	var states []batch.State
	states = append(states, batch.State{})
	for _, s := range []string{"none", "sms", "totp*", "email", "sms,totp", "sms*,totp,email", "sms,totp,email*", "totp,email"} {
		states = append(states, state(t, s))
	}
	for _, before := range states {
		for _, after := range states {
			for _, action := range []string{"", batch.ActionChange, batch.ActionNone} {
				p := batch.Prior{Before: before, After: after, Action: action}
				if got := batch.UnpackPrior(p.Pack()); got != p {
					t.Errorf("%+v packs and unpacks as %+v", p, got)
				}
			}
		}
	}
}

// A write that fails leaves after empty: the state asked for was not
// written, and nothing was read back.
func TestFailedWriteHasNoAfter(t *testing.T) {
	_, f := newStatefulUsers(t, stateUsers())
	f.AdminSetUserMFAPreferenceFn = func(context.Context, *cip.AdminSetUserMFAPreferenceInput, ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "InvalidParameterException", Message: "User has not verified software token mfa"}
	}
	res, _, err := runAdmin(t, batch.Config{SkipUnchanged: true}, f, adminCSV(t, stateManifest), 4)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[1]; r.Status != batch.StatusFailed || r.Action != batch.ActionChange || r.Before.String() != "totp*" || r.After.Known() {
		t.Errorf("row 2: %s action %q before %q after %q", r.Status, r.Action, r.Before, r.After)
	}
}

// A run interrupted between a write and its read back: the row stays
// succeeded, and says the state was not read back because the run stopped.
func TestVerifyInterrupted(t *testing.T) {
	_, f := newStatefulUsers(t, stateUsers())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	write := f.AdminSetUserMFAPreferenceFn
	f.AdminSetUserMFAPreferenceFn = func(c context.Context, in *cip.AdminSetUserMFAPreferenceInput, o ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
		out, err := write(c, in, o...)
		cancel() // the signal comes while the write is answered
		return out, err
	}
	var sink collect
	sum, err := (&batch.Runner{Client: f, Config: batch.Config{Verify: true}}).Run(ctx, adminCSV(t, "id,username,user_pool_id,sms_enabled\na,ben,eu-west-1_P1,true\n"), &sink)
	if !errors.Is(err, context.Canceled) || !sum.Interrupted {
		t.Fatalf("err=%v, want an interrupted run", err)
	}
	r := sink.byRow(t, 1)[0]
	if r.Status != batch.StatusSucceeded || r.After.Known() || r.Attempts != 1 ||
		r.ErrorMessage != "written, but the state could not be read back (Interrupted: the run was interrupted before the state was read back)" {
		t.Errorf("row: %s %q after %q attempts %d", r.Status, r.ErrorMessage, r.After, r.Attempts)
	}
}
