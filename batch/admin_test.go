package batch_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// adminCSV reads an admin-mode CSV manifest.
func adminCSV(t *testing.T, text string) batch.Manifest {
	t.Helper()
	m, err := batch.ReadCSV(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runAdmin runs m against f and returns one result per row 1..n.
func runAdmin(t *testing.T, cfg batch.Config, f *fakeClient, m batch.Manifest, n int) ([]batch.Result, *batch.Summary, error) {
	t.Helper()
	var out collect
	sum, err := (&batch.Runner{Client: f, Config: cfg}).Run(context.Background(), m, &out)
	if err != nil {
		return nil, sum, err
	}
	return out.byRow(t, n), sum, nil
}

func TestAdminRowsGoToTheirPoolsRegion(t *testing.T) {
	m := adminCSV(t, "id,username,user_pool_id,sms_enabled\n"+
		"a,alice,eu-west-1_AbC123,true\n"+
		"b,bob,us-east-2_Xyz9,false\n"+
		"c,carol,,true\n"+ // --user-pool-id's
		"d,dan,local_Emu1,true\n") // no region in the pool ID: --region's
	f := &fakeClient{}
	cfg := batch.Config{UserPoolID: "ap-south-1_Def", DefaultRegion: "sa-east-1"}
	res, _, err := runAdmin(t, cfg, f, m, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ region, pool, status string }{
		{"eu-west-1", "eu-west-1_AbC123", "invalid"}, // another pool than --user-pool-id's
		{"us-east-2", "us-east-2_Xyz9", "invalid"},
		{"ap-south-1", "ap-south-1_Def", "succeeded"},
		{"", "local_Emu1", "invalid"},
	}
	for i, w := range want {
		r := res[i]
		if r.UserPoolID != w.pool || string(r.Status) != w.status || r.TokenSHA256 != "" {
			t.Errorf("row %d: pool %q status %s token_sha256 %q, want %q %s and none", r.Row, r.UserPoolID, r.Status, r.TokenSHA256, w.pool, w.status)
		}
		if w.status == "invalid" && r.ErrorCode != batch.CodeUserNotInPool {
			t.Errorf("row %d: %s %s, want UserNotInPool", r.Row, r.ErrorCode, r.ErrorMessage)
		}
	}
	if calls := f.Calls(); len(calls) != 1 || calls[0].User != "ap-south-1_Def/carol" || calls[0].Region != "ap-south-1" {
		t.Errorf("calls = %+v, want one for carol in ap-south-1", calls)
	}

	// Without --user-pool-id each row goes to its own pool's region; a
	// pool ID naming no region takes the configured one.
	m = adminCSV(t, "id,username,user_pool_id,sms_enabled\na,alice,eu-west-1_AbC123,true\nb,bob,us-east-2_Xyz9,false\nd,dan,local_Emu1,true\n")
	f = &fakeClient{}
	res, _, err = runAdmin(t, batch.Config{DefaultRegion: "sa-east-1"}, f, m, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, region := range []string{"eu-west-1", "us-east-2", "sa-east-1"} {
		if res[i].Status != batch.StatusSucceeded || res[i].Region != region {
			t.Errorf("row %d: %s in %q, want succeeded in %s", i+1, res[i].Status, res[i].Region, region)
		}
	}
	if got := f.Regions(); got["eu-west-1"] != 1 || got["us-east-2"] != 1 || got["sa-east-1"] != 1 {
		t.Errorf("calls per region = %v", got)
	}
}

func TestAdminRegionMismatchAndNoRegion(t *testing.T) {
	m := adminCSV(t, "username,user_pool_id,sms_enabled\nalice,eu-west-1_AbC123,true\n")
	res, _, err := runAdmin(t, batch.Config{Region: "us-east-1"}, &fakeClient{}, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.ErrorCode != batch.CodeRegionMismatch || !strings.Contains(r.ErrorMessage, "the user pool eu-west-1_AbC123 is in eu-west-1, not --region us-east-1") {
		t.Errorf("row 1: %s %q", r.ErrorCode, r.ErrorMessage)
	}
	m = adminCSV(t, "username,user_pool_id,sms_enabled\nalice,local_AbC123,true\n")
	_, _, err = runAdmin(t, batch.Config{}, &fakeClient{}, m, 1)
	var nre *batch.NoRegionError
	if !errors.As(err, &nre) || !strings.Contains(err.Error(), `row 1: the user pool ID "local_AbC123" names no AWS region`) {
		t.Errorf("err = %v, want a NoRegionError naming the pool", err)
	}
}

func TestAdminRowChecks(t *testing.T) {
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	m := adminCSV(t, "id,username,user_pool_id,sms_enabled\n"+
		"1,,eu-west-1_AbC123,true\n"+
		"2,"+jwtLike+",eu-west-1_AbC123,true\n"+
		"3,\"two words\",eu-west-1_AbC123,true\n"+
		"4,alice,,true\n"+
		"5,alice,not a pool,true\n"+
		"6,alice,eu-west-1_AbC123,true\n"+
		"7,alice,eu-west-1_AbC123,true\n"+ // the same again: a duplicate
		"8,alice,eu-west-1_AbC123,false\n"+ // asks otherwise: a conflict
		"9,alice,eu-west-2_AbC123,false\n") // another pool: another user
	f := &fakeClient{}
	res, _, err := runAdmin(t, batch.Config{}, f, m, 9)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ status, code, msg string }{
		{"invalid", "InvalidRow", "the username is blank"},
		{"invalid", "InvalidRow", "the username looks like an access token and is withheld from the report"},
		{"invalid", "InvalidRow", `the username "two words" is not one Cognito allows`},
		{"invalid", "InvalidRow", "the row has no user_pool_id and no --user-pool-id was given"},
		{"invalid", "InvalidRow", `user_pool_id "not a pool" is not a user pool ID such as eu-west-1_AbC123`},
		{"succeeded", "", ""},
		{"skipped", "DuplicateUser", "row 6 already asks the same for this user"},
		{"invalid", "ConflictingRow", "row 6 asks different settings for this user"},
		{"succeeded", "", ""},
	}
	for i, w := range want {
		r := res[i]
		if string(r.Status) != w.status || r.ErrorCode != w.code || !strings.Contains(r.ErrorMessage, w.msg) {
			t.Errorf("row %d: %s %s %q, want %s %s %q", r.Row, r.Status, r.ErrorCode, r.ErrorMessage, w.status, w.code, w.msg)
		}
	}
	if res[1].Username != "" || strings.Contains(res[1].Request, "eyJ") {
		t.Errorf("row 2 shows the token-like username: %q %q", res[1].Username, res[1].Request)
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if got := res[5].Request; got != `{"SMSMfaSettings":{"Enabled":true,"PreferredMfa":false},"Username":"alice","UserPoolId":"eu-west-1_AbC123"}` {
		t.Errorf("row 6 request = %s", got)
	}
}

func TestAdminResumeKeysByPoolAndUsername(t *testing.T) {
	m := adminCSV(t, "username,user_pool_id,sms_enabled\nalice,eu-west-1_AbC123,true\nbob,eu-west-1_AbC123,true\nalice,eu-west-1_Other9,true\n")
	var asked []batch.DoneKey
	cfg := batch.Config{AlreadyDone: func(k batch.DoneKey) (batch.Prior, bool) {
		asked = append(asked, k)
		return batch.Prior{}, k == batch.DoneKey{UserPoolID: "eu-west-1_AbC123", Username: "alice"}
	}}
	f := &fakeClient{}
	res, _, err := runAdmin(t, cfg, f, m, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ErrorCode != batch.CodeAlreadySucceeded || res[1].Status != batch.StatusSucceeded || res[2].Status != batch.StatusSucceeded {
		t.Errorf("statuses %s/%s %s %s", res[0].Status, res[0].ErrorCode, res[1].Status, res[2].Status)
	}
	for _, k := range asked {
		if k.TokenSHA256 != "" {
			t.Errorf("an admin row asked by token fingerprint: %+v", k)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// apiErr is the error the SDK returns for a service exception.
func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func TestAdminCredentialErrorsHaltAtOnce(t *testing.T) {
	for code, want := range map[string]string{
		"AccessDeniedException":       "grant cognito-idp:AdminSetUserMFAPreference",
		"UnrecognizedClientException": "the AWS credentials were refused",
		"ExpiredTokenException":       "the AWS credentials have expired",
		"ResourceNotFoundException":   "the user pool was not found",
	} {
		t.Run(code, func(t *testing.T) {
			text := "username,user_pool_id,sms_enabled\n" + strings.Repeat("u,eu-west-1_AbC123,true\n", 0)
			for _, u := range []string{"a", "b", "c", "d", "e", "f"} {
				text += u + ",eu-west-1_AbC123,true\n"
			}
			f := &fakeClient{AdminSetUserMFAPreferenceFn: func(context.Context, *cip.AdminSetUserMFAPreferenceInput, ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
				return nil, apiErr(code, "no")
			}}
			// --max-failures off, one worker: the first failure halts.
			cfg := batch.Config{Workers: 1, MaxFailures: batch.Threshold{}}
			var out collect
			sum, err := (&batch.Runner{Client: f, Config: cfg}).Run(context.Background(), adminCSV(t, text), &out)
			var he *batch.HaltError
			if !errors.As(err, &he) || !strings.Contains(he.Reason, want) {
				t.Fatalf("err = %v, want a halt saying %q", err, want)
			}
			if n := len(f.Calls()); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
			if sum.Statuses[batch.StatusNotAttempted] != 5 {
				t.Errorf("statuses %v, want 5 not_attempted", sum.Statuses)
			}
		})
	}
	// A user who is not there fails alone: no halt.
	f := &fakeClient{AdminSetUserMFAPreferenceFn: func(_ context.Context, in *cip.AdminSetUserMFAPreferenceInput, _ ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
		if aws.ToString(in.Username) == "ghost" {
			return nil, apiErr("UserNotFoundException", "User does not exist.")
		}
		return &cip.AdminSetUserMFAPreferenceOutput{}, nil
	}}
	res, _, err := runAdmin(t, batch.Config{}, f, adminCSV(t, "username,user_pool_id,sms_enabled\nghost,eu-west-1_AbC123,true\nann,eu-west-1_AbC123,true\n"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != batch.StatusFailed || res[0].ErrorCode != "UserNotFoundException" || res[0].Attempts != 1 || res[1].Status != batch.StatusSucceeded {
		t.Errorf("rows: %+v %+v", res[0], res[1])
	}
}

func TestAdminCredentialsAskedOnceBeforeTheFirstCall(t *testing.T) {
	text := "username,user_pool_id,sms_enabled\nalice,eu-west-1_AbC123,true\nbob,eu-west-1_AbC123,true\n"
	var asked atomic.Int32
	f := &fakeClient{}
	noCreds := errors.New("no credentials")
	cfg := batch.Config{Credentials: func(context.Context) error {
		asked.Add(1)
		if len(f.Calls()) > 0 {
			t.Error("credentials asked after a call")
		}
		return noCreds
	}}
	_, _, err := runAdmin(t, cfg, f, adminCSV(t, text), 2)
	if !errors.Is(err, noCreds) || asked.Load() != 1 || len(f.Calls()) != 0 {
		t.Errorf("err = %v, asked %d times, %d calls; want the credentials' error, once, no call", err, asked.Load(), len(f.Calls()))
	}
	// A dry run needs none; neither does a token run.
	asked.Store(0)
	cfg.DryRun = true
	if _, _, err := runAdmin(t, cfg, f, adminCSV(t, text), 2); err != nil || asked.Load() != 0 {
		t.Errorf("dry run: err = %v, credentials asked %d times", err, asked.Load())
	}
	cfg.DryRun = false
	m, _ := manifest(t, 2, nil)
	if _, _, err := runAdmin(t, cfg, f, m, 2); err != nil || asked.Load() != 0 {
		t.Errorf("token run: err = %v, credentials asked %d times", err, asked.Load())
	}
}

func TestAdminErrorsNeverShowCredentials(t *testing.T) {
	const keyID, session = "ASIAQWERTYUIOPASDFGH", "IQoJb3JpZ2luX2VjEFwaCXVzLWVhc3QtMSJHMEUCIQD"
	f := &fakeClient{AdminSetUserMFAPreferenceFn: func(context.Context, *cip.AdminSetUserMFAPreferenceInput, ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
		return nil, apiErr("InvalidParameterException", "bad call from "+keyID+" with "+session[5:30])
	}}
	cfg := batch.Config{Secrets: func() []string { return []string{keyID, "secret", session} }}
	res, _, err := runAdmin(t, cfg, f, adminCSV(t, "username,user_pool_id,sms_enabled\nalice,eu-west-1_AbC123,true\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; strings.Contains(r.ErrorMessage, keyID[:16]) || strings.Contains(r.ErrorMessage, session[5:21]) || r.ErrorMessage != "<message withheld: it quoted the AWS credentials>" {
		t.Errorf("message = %q", r.ErrorMessage)
	}
}

func TestAdminCSVHeaderRules(t *testing.T) {
	for name, tc := range map[string]struct{ header, msg string }{
		"both":                 {"id,access_token,username,sms_enabled", "the header has both access_token and username columns"},
		"token and pool":       {"access_token,user_pool_id,sms_enabled", "the header has both access_token and user_pool_id columns"},
		"neither":              {"id,sms_enabled", "no access_token or username column"},
		"pool without a user":  {"id,user_pool_id,sms_enabled", "no access_token or username column"},
		"username in capitals": {" UserName ,USER_POOL_ID,sms_enabled", ""},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := batch.ReadCSV(strings.NewReader(tc.header + "\nx,y,true\n"))
			if tc.msg == "" {
				if err != nil || !m.Admin() {
					t.Fatalf("err = %v, admin = %v", err, err == nil && m.Admin())
				}
				return
			}
			var he *batch.HeaderError
			if !errors.As(err, &he) || !strings.Contains(he.Msg, tc.msg) || !strings.Contains(he.Hint, "admin mode") {
				t.Errorf("err = %v, want a HeaderError saying %q with a hint", err, tc.msg)
			}
		})
	}
}

func TestAdminJSONLines(t *testing.T) {
	text := `{"id":"a","username":"alice","user_pool_id":"eu-west-1_AbC123","sms_enabled":true}
{"Username":"bob","UserPoolId":"eu-west-1_AbC123","SMSMfaSettings":{"Enabled":true,"PreferredMfa":false}}
{"id":"c","sms_enabled":true}
{"Username":"dan","SMSMfaSettings":{"Enabled":false}}
`
	rows, err := readManifest(t, batch.ReadJSONL(strings.NewReader(text)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		user, pool string
	}{{"alice", "eu-west-1_AbC123"}, {"bob", "eu-west-1_AbC123"}, {"", ""}, {"dan", ""}}
	for i, w := range want {
		r := rows[i]
		if !r.Admin || r.Username != w.user || r.UserPoolID != w.pool || r.Err != nil || r.Token != "" {
			t.Errorf("row %d: admin %v user %q pool %q err %v", r.N, r.Admin, r.Username, r.UserPoolID, r.Err)
		}
	}
}

func TestManifestInOneMode(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want string
	}{
		"token then username": {`{"access_token":"t","sms_enabled":true}` + "\n\n" + `{"username":"bob","sms_enabled":true}`, "manifest line 3 names its user by username, but the rows before it name users by access token"},
		"username then token": {`{"Username":"bob","SMSMfaSettings":{}}` + "\n" + `{"AccessToken":"t","SMSMfaSettings":{}}`, "manifest line 2 names its user by access token, but the rows before it name users by username"},
		"both on a line":      {`{"access_token":"t","username":"bob","sms_enabled":true}`, "manifest line 1 gives both an access token and a username"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readManifest(t, batch.ReadJSONL(strings.NewReader(tc.text)))
			var me *batch.ModeError
			if !errors.As(err, &me) || err.Error() != tc.want+func() string {
				if me != nil && me.Both {
					return ": a row names its user one way"
				}
				return ": a manifest is in one mode"
			}() {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewClientSignsAdminCallsAndSendsExplicitFalse(t *testing.T) {
	var got struct {
		body, auth, target string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.body, got.auth, got.target = string(b), r.Header.Get("Authorization"), r.Header.Get("X-Amz-Target")
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	client, err := batch.NewClient(cfg, srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	s := batch.Settings{SMS: batch.Factor{Enabled: batch.False, Preferred: batch.False}}
	in := s.AdminInput("eu-west-1_AbC123", "alice")
	if _, err := client.AdminSetUserMFAPreference(context.Background(), in, func(o *cip.Options) { o.Region = "eu-west-1" }); err != nil {
		t.Fatal(err)
	}
	want := `{"SMSMfaSettings":{"Enabled":false,"PreferredMfa":false},"Username":"alice","UserPoolId":"eu-west-1_AbC123"}`
	if got.body != want || got.body != string(batch.AdminBody(in)) {
		t.Errorf("body %s, want %s", got.body, want)
	}
	if !strings.HasPrefix(got.auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(got.auth, "/eu-west-1/cognito-idp/aws4_request") {
		t.Errorf("Authorization = %q, want SigV4 for eu-west-1", got.auth)
	}
	if got.target != "AWSCognitoIdentityProviderService.AdminSetUserMFAPreference" {
		t.Errorf("target = %q", got.target)
	}
}

func TestUserPoolIDGuardsTokenRows(t *testing.T) {
	m, _ := manifest(t, 2, nil)
	f := &fakeClient{}
	res, _, err := runAdmin(t, batch.Config{UserPoolID: "us-east-1_Other"}, f, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.ErrorCode != batch.CodeUserNotInPool || !strings.Contains(r.ErrorMessage, "not --user-pool-id us-east-1_Other") {
			t.Errorf("row %d: %s %s %q", r.Row, r.Status, r.ErrorCode, r.ErrorMessage)
		}
	}
	if len(f.Calls()) != 0 {
		t.Errorf("%d calls, want none", len(f.Calls()))
	}
}

func TestAdminRowsHaveNoExpiryOrder(t *testing.T) {
	text := "username,user_pool_id,sms_enabled\nalice,eu-west-1_AbC123,true\n"
	_, err := batch.ByExpiry(adminCSV(t, text), strings.NewReader(text))
	if !errors.Is(err, batch.ErrAdminOrder) {
		t.Errorf("err = %v", err)
	}
}

// TestAdminRunIsSigned runs admin rows through the tool's client against
// the fake, which checks every signature as the service does: each call
// is signed for its pool's region, retries included.
func TestAdminRunIsSigned(t *testing.T) {
	srv := cognitotest.NewServer(cognitotest.FailAttempts(1, cognitotest.Throttle))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: cognitotest.TestSessionCredentials}}
	client, err := batch.NewClient(cfg, srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	m := adminCSV(t, "username,user_pool_id,sms_enabled\nalice,us-east-1_AbC123,true\nbob,eu-west-1_Def456,true\n")
	var out collect
	r := &batch.Runner{Client: client, Config: batch.Config{BackoffBase: time.Millisecond}}
	if _, err := r.Run(context.Background(), m, &out); err != nil {
		t.Fatal(err)
	}
	for _, res := range out.byRow(t, 2) {
		if res.Status != batch.StatusSucceeded || res.Attempts != 2 {
			t.Errorf("row %d: %s after %d attempts: %s", res.Row, res.Status, res.Attempts, res.ErrorMessage)
		}
	}
	calls := srv.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	for _, c := range calls {
		if !c.Verified || c.AccessKeyID != cognitotest.TestSessionCredentials.AccessKeyID || c.SigningRegion != strings.SplitN(c.PoolID, "_", 2)[0] {
			t.Errorf("call %d for %s: signed by %q for %q, verified %v", c.N, c.Username, c.AccessKeyID, c.SigningRegion, c.Verified)
		}
	}
}

// TestAdminYAMLAndJSON reads admin rows in the other forms a manifest
// takes, each held to one mode as JSON Lines are.
func TestAdminYAMLAndJSON(t *testing.T) {
	yamlText := "username: alice\nuser_pool_id: eu-west-1_AbC123\nsms_enabled: true\n---\nUsername: bob\nUserPoolId: eu-west-1_AbC123\nSMSMfaSettings: {Enabled: true}\n---\nsms_enabled: true\n"
	jsonText := `[{"username":"alice","user_pool_id":"eu-west-1_AbC123","sms_enabled":true},{"Username":"bob","UserPoolId":"eu-west-1_AbC123","SMSMfaSettings":{"Enabled":true}},{"sms_enabled":true}]`
	for name, m := range map[string]batch.Manifest{"yaml": batch.ReadYAML(strings.NewReader(yamlText)), "json": batch.ReadJSON(strings.NewReader(jsonText))} {
		rows, err := readManifest(t, m)
		if err != nil || len(rows) != 3 {
			t.Fatalf("%s: %d rows, err %v", name, len(rows), err)
		}
		for i, user := range []string{"alice", "bob", ""} {
			if r := rows[i]; !r.Admin || r.Username != user || r.Err != nil {
				t.Errorf("%s row %d: admin %v user %q err %v", name, r.N, r.Admin, r.Username, r.Err)
			}
		}
	}
	mixed := map[string]batch.Manifest{
		"yaml": batch.ReadYAML(strings.NewReader("username: alice\nsms_enabled: true\n---\naccess_token: t\nsms_enabled: true\n")),
		"json": batch.ReadJSON(strings.NewReader(`[{"username":"alice","sms_enabled":true},` + "\n" + `{"access_token":"t","sms_enabled":true}]`)),
	}
	for name, m := range mixed {
		_, err := readManifest(t, m)
		var me *batch.ModeError
		if !errors.As(err, &me) || me.Line < 2 {
			t.Errorf("%s: err = %v, want a ModeError at the second row's line", name, err)
		}
	}
}
