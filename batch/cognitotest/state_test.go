package cognitotest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// adminGet is AdminGetUser of username in testPool.
func adminGet(t *testing.T, c *cip.Client, username string) (*cip.AdminGetUserOutput, error) {
	t.Helper()
	return c.AdminGetUser(context.Background(), &cip.AdminGetUserInput{UserPoolId: aws.String(testPool), Username: aws.String(username)})
}

// mustAdd adds users to srv, or fails the test.
func mustAdd(t *testing.T, srv *Server, users ...User) {
	t.Helper()
	for _, u := range users {
		if err := srv.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
}

// mfaOfUser is the MFA state srv has for username in testPool, as
// "ENABLED... preferred:P", or "absent".
func mfaOfUser(srv *Server, pool, username string) string {
	u, ok := srv.User(pool, username)
	if !ok {
		return "absent"
	}
	return strings.Join(u.MFA, ",") + " preferred:" + u.Preferred
}

// A token write and an admin read of the same user agree, and GetUser
// answers the token's user with what the write set.
func TestTokenWriteAdminRead(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	token := Token(Claims{Username: "alice", PoolID: testPool})
	if _, err := setMFA(context.Background(), newClient(srv), token); err != nil {
		t.Fatal(err)
	}
	admin, err := adminGet(t, newAdminClient(srv, "us-east-1", TestCredentials), "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, err := newClient(srv).GetUser(context.Background(), &cip.GetUserInput{AccessToken: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	sub := []types.AttributeType{{Name: aws.String("sub"), Value: aws.String(defaultSub(testPool, "alice"))}}
	for name, out := range map[string]struct {
		username  *string
		attrs     []types.AttributeType
		list      []string
		preferred *string
	}{
		"AdminGetUser": {admin.Username, admin.UserAttributes, admin.UserMFASettingList, admin.PreferredMfaSetting},
		"GetUser":      {got.Username, got.UserAttributes, got.UserMFASettingList, got.PreferredMfaSetting},
	} {
		if aws.ToString(out.username) != "alice" || !reflect.DeepEqual(out.attrs, sub) ||
			!slices.Equal(out.list, []string{"SOFTWARE_TOKEN_MFA"}) || aws.ToString(out.preferred) != "SOFTWARE_TOKEN_MFA" {
			t.Errorf("%s: %s %v %v %v; want alice with its sub, TOTP enabled and preferred",
				name, aws.ToString(out.username), out.attrs, out.list, aws.ToString(out.preferred))
		}
	}
	if admin.UserStatus != types.UserStatusTypeConfirmed || !admin.Enabled || admin.UserCreateDate == nil {
		t.Errorf("AdminGetUser: status %s, enabled %v, created %v; want a confirmed, enabled user", admin.UserStatus, admin.Enabled, admin.UserCreateDate)
	}
	// GetUser's answer has GetUser's members alone.
	body := rawCall(t, srv, "GetUser", `{"AccessToken":"`+token+`"}`)
	keys := slices.Sorted(maps.Keys(body))
	if want := []string{"PreferredMfaSetting", "UserAttributes", "UserMFASettingList", "Username"}; !slices.Equal(keys, want) {
		t.Errorf("GetUser answered %v, want %v", keys, want)
	}
}

// AdminGetUser answers a seeded user as seeded, and leaves the MFA fields
// out when there is nothing in them, as Cognito does.
func TestAdminGetUserSeeded(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	mustAdd(t, srv,
		User{Pool: testPool, Username: "bob", Attributes: map[string]string{"email": "bob@example.com", "sub": "sub-bob"},
			Groups: []string{"admins"}, Status: "FORCE_CHANGE_PASSWORD", Disabled: true,
			MFA: []string{"EMAIL_OTP", "SMS_MFA"}, Preferred: "EMAIL_OTP"},
		User{Pool: testPool, Username: "carol"})
	out, err := adminGet(t, newAdminClient(srv, "us-east-1", TestCredentials), "bob")
	if err != nil {
		t.Fatal(err)
	}
	attrs := []types.AttributeType{{Name: aws.String("email"), Value: aws.String("bob@example.com")}, {Name: aws.String("sub"), Value: aws.String("sub-bob")}}
	if !reflect.DeepEqual(out.UserAttributes, attrs) || out.UserStatus != "FORCE_CHANGE_PASSWORD" || out.Enabled ||
		!slices.Equal(out.UserMFASettingList, []string{"SMS_MFA", "EMAIL_OTP"}) || aws.ToString(out.PreferredMfaSetting) != "EMAIL_OTP" {
		t.Errorf("bob = %v %s enabled %v %v %v", out.UserAttributes, out.UserStatus, out.Enabled, out.UserMFASettingList, aws.ToString(out.PreferredMfaSetting))
	}
	body := rawCall(t, srv, "AdminGetUser", `{"UserPoolId":"`+testPool+`","Username":"carol"}`)
	for _, key := range []string{"UserMFASettingList", "PreferredMfaSetting"} {
		if _, ok := body[key]; ok {
			t.Errorf("carol, with no MFA, answered with %s: %v", key, body)
		}
	}
	if body["Username"] != "carol" || body["UserStatus"] != "CONFIRMED" || body["Enabled"] != true {
		t.Errorf("carol = %v", body)
	}
}

// rawCall sends op with body, signed with TestCredentials, and returns
// the JSON object of its answer, which must be a success.
func rawCall(t *testing.T, srv *Server, op, body string) map[string]any {
	t.Helper()
	resp, err := srv.Client().Do(signedOp(t, srv, op, body, time.Now(), "cognito-idp"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s (%v)", op, resp.StatusCode, b, err)
	}
	return out
}

// adminSet is AdminSetUserMFAPreference for username in testPool with
// the given blocks.
func adminSet(c *cip.Client, username string, in cip.AdminSetUserMFAPreferenceInput) error {
	in.UserPoolId, in.Username = aws.String(testPool), aws.String(username)
	_, err := c.AdminSetUserMFAPreference(context.Background(), &in)
	return err
}

var (
	sms = func(e, p bool) *types.SMSMfaSettingsType {
		return &types.SMSMfaSettingsType{Enabled: e, PreferredMfa: p}
	}
	totp = func(e, p bool) *types.SoftwareTokenMfaSettingsType {
		return &types.SoftwareTokenMfaSettingsType{Enabled: e, PreferredMfa: p}
	}
	email = func(e, p bool) *types.EmailMfaSettingsType {
		return &types.EmailMfaSettingsType{Enabled: e, PreferredMfa: p}
	}
)

// TestPreferenceSemantics checks that a write changes a user's state as
// Cognito does.
func TestPreferenceSemantics(t *testing.T) {
	const s, o, e = "SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"
	tests := []struct {
		name             string
		mfa              []string
		preferred        string
		in               cip.AdminSetUserMFAPreferenceInput
		want             string
		passkey, another bool
	}{
		{"enable", nil, "", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, false)}, s + " preferred:", false, false},
		{"enable and prefer", nil, "", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, true)}, s + " preferred:" + s, false, false},
		{"one preferred only", []string{s}, s, cip.AdminSetUserMFAPreferenceInput{SoftwareTokenMfaSettings: totp(true, true)},
			s + "," + o + " preferred:" + o, false, false},
		{"PreferredMfa false clears", []string{s}, s, cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, false)}, s + " preferred:", false, false},
		{"Enabled false clears", []string{s, o}, s, cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(false, false)}, o + " preferred:", false, false},
		{"another factor's PreferredMfa false", []string{s, o}, o, cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, false)},
			s + "," + o + " preferred:" + o, false, false},
		{"disable another", []string{s, o}, s, cip.AdminSetUserMFAPreferenceInput{SoftwareTokenMfaSettings: totp(false, false)}, s + " preferred:" + s, false, false},
		{"no block, untouched", []string{s, o}, o, cip.AdminSetUserMFAPreferenceInput{EmailMfaSettings: email(true, false)},
			s + "," + o + "," + e + " preferred:" + o, false, false},
		{"passkey", []string{e}, e, cip.AdminSetUserMFAPreferenceInput{WebAuthnMfaSettings: &types.WebAuthnMfaSettingsType{Enabled: true}},
			e + " preferred:" + e, true, false},
	}
	srv := NewServer(nil)
	defer srv.Close()
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustAdd(t, srv, User{Pool: testPool, Username: "u", MFA: tt.mfa, Preferred: tt.preferred})
			if err := adminSet(c, "u", tt.in); err != nil {
				t.Fatal(err)
			}
			u, _ := srv.User(testPool, "u")
			if got := mfaOfUser(srv, testPool, "u"); got != tt.want || u.Passkey != tt.passkey {
				t.Errorf("state %q, passkey %v; want %q, %v", got, u.Passkey, tt.want, tt.passkey)
			}
		})
	}
}

// A write for a user the server does not have makes it: an admin write
// with the sub Token would give it, a token write with its token's sub.
func TestWriteMakesUser(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	if err := adminSet(newAdminClient(srv, "us-east-1", TestCredentials), "dee", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, true)}); err != nil {
		t.Fatal(err)
	}
	token := Token(Claims{Username: "eve", PoolID: testPool, Sub: "sub-of-eve"})
	if _, err := setMFA(context.Background(), newClient(srv), token); err != nil {
		t.Fatal(err)
	}
	dee, _ := srv.User(testPool, "dee")
	eve, _ := srv.User(testPool, "eve")
	if dee.Attributes["sub"] != defaultSub(testPool, "dee") || dee.Status != "CONFIRMED" || mfaOfUser(srv, testPool, "dee") != "SMS_MFA preferred:SMS_MFA" {
		t.Errorf("dee = %+v", dee)
	}
	if eve.Attributes["sub"] != "sub-of-eve" || mfaOfUser(srv, testPool, "eve") != "SOFTWARE_TOKEN_MFA preferred:SOFTWARE_TOKEN_MFA" {
		t.Errorf("eve = %+v", eve)
	}
	mustAdd(t, srv, User{Pool: testPool, Username: "ann"})
	var names []string
	for _, u := range srv.Users(testPool) {
		names = append(names, u.Username)
	}
	if want := []string{"ann", "dee", "eve"}; !slices.Equal(names, want) {
		t.Errorf("Users() = %v, want %v", names, want)
	}
}

// A read of a user the server does not have answers one with no MFA, and
// makes nothing.
func TestReadUnknownUser(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	out, err := adminGet(t, newAdminClient(srv, "us-east-1", TestCredentials), "fay")
	if err != nil || aws.ToString(out.Username) != "fay" || out.UserMFASettingList != nil || out.PreferredMfaSetting != nil {
		t.Fatalf("AdminGetUser fay: %+v, %v", out, err)
	}
	if _, ok := srv.User(testPool, "fay"); ok {
		t.Error("a read made the user")
	}
}

// A call that a fault answers changes nothing; its retry does.
func TestFaultChangesNothing(t *testing.T) {
	for _, f := range []Fault{Throttle, Internal, ServerError, Reset, APIError} {
		t.Run(f.String(), func(t *testing.T) {
			srv := NewServer(FailAttempts(1, f))
			defer srv.Close()
			mustAdd(t, srv, User{Pool: testPool, Username: "gus", MFA: []string{"SMS_MFA"}, Preferred: "SMS_MFA"})
			c := newAdminClient(srv, "us-east-1", TestCredentials)
			in := cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(false, false)}
			if err := adminSet(c, "gus", in); err == nil {
				t.Fatal("the faulted attempt succeeded")
			}
			if got := mfaOfUser(srv, testPool, "gus"); got != "SMS_MFA preferred:SMS_MFA" {
				t.Errorf("after the faulted attempt: %q, want it unchanged", got)
			}
			if err := adminSet(c, "gus", in); err != nil {
				t.Fatal(err)
			}
			if got := mfaOfUser(srv, testPool, "gus"); got != " preferred:" {
				t.Errorf("after the retry: %q, want no MFA", got)
			}
		})
	}
}

// A noapply- user's writes answer success and change nothing, by token or
// by name; its reads answer its state.
func TestNoApply(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	mustAdd(t, srv, User{Pool: testPool, Username: "noapply-hal", MFA: []string{"SMS_MFA"}})
	if err := adminSet(newAdminClient(srv, "us-east-1", TestCredentials), "noapply-hal", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := setMFA(context.Background(), newClient(srv), Token(Claims{Username: "noapply-hal", PoolID: testPool})); err != nil {
		t.Fatal(err)
	}
	if _, err := setMFA(context.Background(), newClient(srv), Token(Claims{Username: "noapply-ida", PoolID: testPool})); err != nil {
		t.Fatal(err)
	}
	if got := mfaOfUser(srv, testPool, "noapply-hal"); got != "SMS_MFA preferred:" {
		t.Errorf("noapply-hal = %q, want as seeded", got)
	}
	if got := mfaOfUser(srv, testPool, "noapply-ida"); got != "absent" {
		t.Errorf("noapply-ida = %q, want never made", got)
	}
	out, err := adminGet(t, newAdminClient(srv, "us-east-1", TestCredentials), "noapply-hal")
	if err != nil || !slices.Equal(out.UserMFASettingList, []string{"SMS_MFA"}) {
		t.Errorf("AdminGetUser noapply-hal: %v, %v", out, err)
	}
}

// Reads honour the user-name answers as writes do: nototp- users read as
// they are.
func TestReadsHonourAnswers(t *testing.T) {
	srv := NewServer(ByUsername(AdminAnswers, nil))
	defer srv.Close()
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	for user, code := range map[string]string{"nouser-a": "UserNotFoundException", "denied-b": "AccessDeniedException",
		"nopool-c": "ResourceNotFoundException", "nototp-d": ""} {
		_, err := adminGet(t, c, user)
		if got := errorCode(err); got != code {
			t.Errorf("AdminGetUser %s: %v, want %q", user, err, code)
		}
	}
	_, err := newClient(srv).GetUser(context.Background(), &cip.GetUserInput{AccessToken: aws.String(Token(Claims{Username: "nouser-e"}))})
	if errorCode(err) != "UserNotFoundException" {
		t.Errorf("GetUser nouser-e: %v", err)
	}
	if err := adminSet(c, "nototp-d", cip.AdminSetUserMFAPreferenceInput{SoftwareTokenMfaSettings: totp(true, false)}); errorCode(err) != "InvalidParameterException" {
		t.Errorf("AdminSetUserMFAPreference nototp-d: %v", err)
	}
}

// Token calls check the token as the service does: a revoked or expired
// token changes nothing and reads nothing; GetUser refuses one it cannot
// read, while a write with one succeeds for no user, as it always has.
func TestTokenChecks(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	c := newClient(srv)
	revoked := Token(Claims{Username: "jo", PoolID: testPool})
	srv.Revoke(revoked)
	tests := []struct {
		name, token, message string
	}{
		{"revoked", revoked, "Access Token has been revoked"},
		{"expired", Token(Claims{Username: "jo", PoolID: testPool, Exp: time.Now().Add(-time.Second)}), "Access Token has expired"},
		{"no JWT", "x", "Invalid Access Token"},
		{"no username", Token(Claims{Username: Omit}), "Invalid Access Token"},
	}
	for _, tt := range tests {
		_, err := c.GetUser(context.Background(), &cip.GetUserInput{AccessToken: aws.String(tt.token)})
		if errorCode(err) != "NotAuthorizedException" || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("GetUser, %s token: %v, want NotAuthorizedException %q", tt.name, err, tt.message)
		}
		_, err = setMFA(context.Background(), c, tt.token)
		if tt.message == "Invalid Access Token" {
			if err != nil {
				t.Errorf("SetUserMFAPreference, %s token: %v, want success", tt.name, err)
			}
			continue
		}
		if errorCode(err) != "NotAuthorizedException" || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("SetUserMFAPreference, %s token: %v, want NotAuthorizedException %q", tt.name, err, tt.message)
		}
	}
	if got := mfaOfUser(srv, testPool, "jo"); got != "absent" {
		t.Errorf("jo = %q: a refused token made or changed the user", got)
	}
}

func TestAddUserRefuses(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	for _, u := range []User{
		{Pool: "nopool", Username: "a"},
		{Pool: testPool},
		{Pool: testPool, Username: "a", Status: "HAPPY"},
		{Pool: testPool, Username: "a", MFA: []string{"SMS"}},
		{Pool: testPool, Username: "a", MFA: []string{"SMS_MFA", "SMS_MFA"}},
		{Pool: testPool, Username: "a", MFA: []string{"SMS_MFA"}, Preferred: "EMAIL_OTP"},
		{Pool: testPool, Username: "a", Groups: []string{""}},
	} {
		if err := srv.AddUser(u); err == nil {
			t.Errorf("AddUser(%+v) succeeded", u)
		}
	}
	if _, ok := srv.User(testPool, "a"); ok {
		t.Error("a refused user was added")
	}
}

// Generated users cost a few hundred bytes each, and carry the states
// their doc promises.
func TestGeneratedUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("adds 100,000 users")
	}
	const n = 100_000
	srv := NewServer(nil)
	defer srv.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := srv.AddUsers(Generated(testPool, n)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perUser := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes a user", perUser)
	if perUser > 400 {
		t.Errorf("%d bytes a user, want at most 400", perUser)
	}
	want := []string{" preferred:", "SMS_MFA preferred:", "SMS_MFA preferred:SMS_MFA",
		"SOFTWARE_TOKEN_MFA preferred:SOFTWARE_TOKEN_MFA", "SMS_MFA,SOFTWARE_TOKEN_MFA preferred:SOFTWARE_TOKEN_MFA",
		"EMAIL_OTP preferred:EMAIL_OTP", "SMS_MFA,EMAIL_OTP preferred:SMS_MFA", " preferred:"}
	for i, w := range want {
		name := "user" + strings.Repeat("0", 5) + string(rune('1'+i))
		if got := mfaOfUser(srv, testPool, name); got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	last, ok := srv.User(testPool, "user100000")
	if !ok || last.Attributes["email"] != "user100000@example.com" {
		t.Errorf("user100000 = %+v, %v", last, ok)
	}
}

// BenchmarkAddUsers measures seeding a pool of 100,000 users, as an
// export benchmark does, and the memory they hold (measured on the first
// server, while no other holds any).
func BenchmarkAddUsers(b *testing.B) {
	const n = 100_000
	perUser := 0.0
	for b.Loop() {
		var before, after runtime.MemStats
		srv := NewServer(nil)
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := srv.AddUsers(Generated(testPool, n)); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if perUser == 0 {
			perUser = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		}
		srv.Close()
	}
	b.ReportMetric(perUser, "B/user")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/user")
}

// BenchmarkListUsers lists a pool of 100,000 users through the SDK, 60 a
// page, to show the server's share of an export benchmark is small. A
// page whose answer the client's own connection cut short (net.ErrClosed:
// aws/aws-sdk-go-v2#2737, which the SDK's standard retryer retries) is
// asked again, and counted.
func BenchmarkListUsers(b *testing.B) {
	srv := NewServer(nil)
	defer srv.Close()
	srv.KeepCalls(false)
	if err := srv.AddUsers(Generated(testPool, 100_000)); err != nil {
		b.Fatal(err)
	}
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	pages, cut := 0, 0
	for b.Loop() {
		in := &cip.ListUsersInput{UserPoolId: aws.String(testPool)}
		for {
			out, err := c.ListUsers(context.Background(), in)
			if errors.Is(err, net.ErrClosed) {
				cut++
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			pages++
			if in.PaginationToken = out.PaginationToken; in.PaginationToken == nil {
				break
			}
		}
	}
	b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(cut)/float64(b.N), "cut/op")
}
