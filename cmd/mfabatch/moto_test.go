package main_test

// The emulator harness for the end-to-end tests: it starts moto_server on a
// free loopback port and fills it with users holding real access tokens.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

const (
	motoRegion    = "us-east-1"
	motoReadyWait = 60 * time.Second
	// setupWorkers is how many users are set up at once. moto is one Python
	// process: 2 to 12 callers all measured about 16 ms per user on two cores.
	setupWorkers = 4
	userPassword = "Passw0rd!e2e"
)

// startMoto starts a private moto_server on a free 127.0.0.1 port and
// returns its URL; it is killed when the test ends.
func startMoto(t testing.TB) string {
	t.Helper()
	bin := requireMoto(t)
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	d := startDaemon(t, "moto_server", bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// Any HTTP answer means the server is up and serving.
	d.waitReady(t, url+"/moto-api/", motoReadyWait, nil)
	return url
}

// requireMoto returns the path of moto_server, or skips the test without
// it (fails it when MFABATCH_E2E=1, as CI sets).
func requireMoto(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		msg := "e2e test needs moto_server on PATH (pip install 'moto[server]'); " +
			"set MFABATCH_E2E=1 to make its absence a failure"
		if os.Getenv("MFABATCH_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before moto binds it; that is rare enough for a test.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newCognito returns an SDK client for moto. It is built from Options, not
// from the shared AWS config, so the developer's own profile is never read.
func newCognito(endpoint string) *cip.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only, whatever HTTP_PROXY says
	transport.MaxIdleConnsPerHost = setupWorkers * 2
	return cip.New(cip.Options{
		Region:       motoRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   &http.Client{Transport: transport},
	})
}

// pool is a user pool with an app client that allows password sign-in.
type pool struct {
	ID       string
	ClientID string
}

func createPool(t testing.TB, ctx context.Context, c *cip.Client, name string) pool {
	t.Helper()
	up, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateUserPool: %v", err)
	}
	id := aws.ToString(up.UserPool.Id)
	cl, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(id),
		ClientName: aws.String(name + "-client"),
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
			types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
			types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
		},
	})
	if err != nil {
		t.Fatalf("CreateUserPoolClient: %v", err)
	}
	return pool{ID: id, ClientID: aws.ToString(cl.UserPoolClient.ClientId)}
}

// mfaState is a user's MFA state as AdminGetUser reports it.
type mfaState struct {
	Enabled   []string // UserMFASettingList, sorted
	Preferred string   // PreferredMfaSetting, "" for none
}

func (s mfaState) String() string {
	return fmt.Sprintf("enabled=%v preferred=%q", s.Enabled, s.Preferred)
}

func (s mfaState) equal(o mfaState) bool {
	return slices.Equal(s.Enabled, o.Enabled) && s.Preferred == o.Preferred
}

// mfa builds an mfaState; enabled may come in any order.
func mfa(preferred string, enabled ...string) mfaState {
	e := slices.Clone(enabled)
	slices.Sort(e)
	return mfaState{Enabled: e, Preferred: preferred}
}

const (
	smsMFA  = string(types.ChallengeNameTypeSmsMfa)           // "SMS_MFA"
	totpMFA = string(types.ChallengeNameTypeSoftwareTokenMfa) // "SOFTWARE_TOKEN_MFA"
)

// userSpec says how a test user is prepared before mfabatch runs.
type userSpec struct {
	Name string
	// Phone gives the user a phone_number attribute, which Cognito needs
	// for SMS MFA (moto does not check).
	Phone bool
	// VerifiedTOTP associates and verifies a software token.
	VerifiedTOTP bool
	// PresetSMS and PresetTOTP are sent with SetUserMFAPreference during
	// setup, so that a row can change a state other than the default one.
	PresetSMS, PresetTOTP *factor
	// Revoked signs the user out globally once the token is issued.
	Revoked bool
	// IDToken also keeps the user's ID token, for rows that misuse it.
	IDToken bool
}

// factor is one MFA factor's settings.
type factor struct{ Enabled, Preferred bool }

// user is a prepared user and the tokens a manifest row can carry.
type user struct {
	Spec        userSpec
	Sub         string
	AccessToken string
	IDToken     string
	// Before is the MFA state after setup, read back from moto.
	Before mfaState
}

// setupUsers creates every user concurrently in p and returns them in the
// order of specs.
func setupUsers(t testing.TB, ctx context.Context, c *cip.Client, p pool, specs []userSpec) []*user {
	t.Helper()
	users := make([]*user, len(specs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(setupWorkers)
	for i, s := range specs {
		g.Go(func() error {
			u, err := setupUser(ctx, c, p, s)
			if err != nil {
				return fmt.Errorf("setting up user %q: %w", s.Name, err)
			}
			users[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return users
}

// usersByName indexes users by name.
func usersByName(users []*user) map[string]*user {
	byName := make(map[string]*user, len(users))
	for _, u := range users {
		byName[u.Spec.Name] = u
	}
	return byName
}

func setupUser(ctx context.Context, c *cip.Client, p pool, s userSpec) (*user, error) {
	attrs := []types.AttributeType{}
	if s.Phone {
		attrs = append(attrs, types.AttributeType{Name: aws.String("phone_number"), Value: aws.String("+15555550100")})
	}
	cu, err := c.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId:     aws.String(p.ID),
		Username:       aws.String(s.Name),
		UserAttributes: attrs,
		MessageAction:  types.MessageActionTypeSuppress,
	})
	if err != nil {
		return nil, fmt.Errorf("AdminCreateUser: %w", err)
	}
	u := &user{Spec: s}
	for _, a := range cu.User.Attributes {
		if aws.ToString(a.Name) == "sub" {
			u.Sub = aws.ToString(a.Value)
		}
	}
	if _, err := c.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(p.ID),
		Username:   aws.String(s.Name),
		Password:   aws.String(userPassword),
		Permanent:  true,
	}); err != nil {
		return nil, fmt.Errorf("AdminSetUserPassword: %w", err)
	}
	// Sign in before any MFA is on: moto, like Cognito, answers with an MFA
	// challenge instead of tokens once a preferred factor is enabled.
	auth, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(p.ClientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": s.Name, "PASSWORD": userPassword},
	})
	if err != nil {
		return nil, fmt.Errorf("InitiateAuth: %w", err)
	}
	if auth.AuthenticationResult == nil {
		return nil, fmt.Errorf("InitiateAuth: challenge %q instead of tokens", auth.ChallengeName)
	}
	u.AccessToken = aws.ToString(auth.AuthenticationResult.AccessToken)
	if s.IDToken {
		u.IDToken = aws.ToString(auth.AuthenticationResult.IdToken)
	}
	token := aws.String(u.AccessToken)

	if s.VerifiedTOTP {
		if _, err := c.AssociateSoftwareToken(ctx, &cip.AssociateSoftwareTokenInput{AccessToken: token}); err != nil {
			return nil, fmt.Errorf("AssociateSoftwareToken: %w", err)
		}
		// moto accepts any code unless its TOTP check is switched on.
		if _, err := c.VerifySoftwareToken(ctx, &cip.VerifySoftwareTokenInput{
			AccessToken: token,
			UserCode:    aws.String("123456"),
		}); err != nil {
			return nil, fmt.Errorf("VerifySoftwareToken: %w", err)
		}
	}
	if s.PresetSMS != nil || s.PresetTOTP != nil {
		in := &cip.SetUserMFAPreferenceInput{AccessToken: token}
		if f := s.PresetSMS; f != nil {
			in.SMSMfaSettings = &types.SMSMfaSettingsType{Enabled: f.Enabled, PreferredMfa: f.Preferred}
		}
		if f := s.PresetTOTP; f != nil {
			in.SoftwareTokenMfaSettings = &types.SoftwareTokenMfaSettingsType{Enabled: f.Enabled, PreferredMfa: f.Preferred}
		}
		if _, err := c.SetUserMFAPreference(ctx, in); err != nil {
			return nil, fmt.Errorf("preset SetUserMFAPreference: %w", err)
		}
	}
	if s.Revoked {
		if _, err := c.GlobalSignOut(ctx, &cip.GlobalSignOutInput{AccessToken: token}); err != nil {
			return nil, fmt.Errorf("GlobalSignOut: %w", err)
		}
	}
	if u.Before, err = getMFA(ctx, c, p, s.Name); err != nil {
		return nil, err
	}
	return u, nil
}

// getMFA reads a user's MFA state back with AdminGetUser.
func getMFA(ctx context.Context, c *cip.Client, p pool, name string) (mfaState, error) {
	out, err := c.AdminGetUser(ctx, &cip.AdminGetUserInput{
		UserPoolId: aws.String(p.ID),
		Username:   aws.String(name),
	})
	if err != nil {
		return mfaState{}, fmt.Errorf("AdminGetUser %q: %w", name, err)
	}
	return mfa(aws.ToString(out.PreferredMfaSetting), out.UserMFASettingList...), nil
}

// getAllMFA reads back the MFA state of every user, concurrently.
func getAllMFA(t testing.TB, ctx context.Context, c *cip.Client, p pool, users []*user) []mfaState {
	t.Helper()
	states := make([]mfaState, len(users))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(setupWorkers)
	for i, u := range users {
		g.Go(func() (err error) {
			states[i], err = getMFA(ctx, c, p, u.Spec.Name)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return states
}

// TestMotoBehaviour pins down what the end-to-end tests rely on in the
// emulator, so that a moto upgrade that changes it fails here, by name.
func TestMotoBehaviour(t *testing.T) {
	ctx := t.Context()
	c := newCognito(startMoto(t))
	p := createPool(t, ctx, c, "moto-behaviour")
	us := setupUsers(t, ctx, c, p, []userSpec{
		{Name: "plain"},
		{Name: "revoked", Revoked: true},
		{Name: "sms-on", PresetSMS: &factor{Enabled: true, Preferred: true}},
	})
	plain, revoked, smsOn := us[0], us[1], us[2]

	// Access tokens carry the claims mfabatch reads without verifying.
	var claims struct {
		Iss, Sub, Username, Scope string
		TokenUse                  string `json:"token_use"`
		Exp                       int64
	}
	parts := strings.Split(plain.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	wantIss := "https://cognito-idp." + motoRegion + ".amazonaws.com/" + p.ID
	if claims.Iss != wantIss || claims.Sub != plain.Sub || claims.Username != "plain" ||
		claims.TokenUse != "access" || !strings.Contains(claims.Scope, "aws.cognito.signin.user.admin") ||
		time.Until(time.Unix(claims.Exp, 0)) < 30*time.Minute {
		t.Errorf("access token claims %+v, want iss %q, sub %q, username plain, token_use access, admin scope, exp in about 1h",
			claims, wantIss, plain.Sub)
	}

	set := func(u *user, sms *types.SMSMfaSettingsType, totp *types.SoftwareTokenMfaSettingsType) error {
		_, err := c.SetUserMFAPreference(ctx, &cip.SetUserMFAPreferenceInput{
			AccessToken: aws.String(u.AccessToken), SMSMfaSettings: sms, SoftwareTokenMfaSettings: totp,
		})
		return err
	}
	wantCode := func(what string, err error, code string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Errorf("%s: error %v, want %s", what, err, code)
		}
	}

	err = set(plain, nil, &types.SoftwareTokenMfaSettingsType{Enabled: true})
	wantCode("TOTP without a verified software token", err, "InvalidParameterException")

	err = set(revoked, &types.SMSMfaSettingsType{Enabled: true}, nil)
	wantCode("token revoked by GlobalSignOut", err, "NotAuthorizedException")
	if err != nil && strings.Contains(err.Error(), revoked.AccessToken) {
		t.Log("moto echoes a rejected access token in its error message")
	}

	// The SDK drops false fields, so this goes out as "SMSMfaSettings":{},
	// which moto takes as no change.
	if err := set(smsOn, &types.SMSMfaSettingsType{Enabled: false, PreferredMfa: false}, nil); err != nil {
		t.Fatal(err)
	}
	states := getAllMFA(t, ctx, c, p, us)
	for i, want := range []mfaState{mfa(""), mfa(""), mfa(smsMFA, smsMFA)} {
		if !states[i].equal(want) {
			t.Errorf("user %q: MFA %v, want %v", us[i].Spec.Name, states[i], want)
		}
	}
}

// TestMotoAdminBehaviour pins down what the admin end-to-end test relies
// on: moto answers AdminSetUserMFAPreference as Cognito does for unknown
// users and unverified TOTP, and takes a user name a spreadsheet would
// read as a formula.
func TestMotoAdminBehaviour(t *testing.T) {
	ctx := t.Context()
	c := newCognito(startMoto(t))
	p := createPool(t, ctx, c, "moto-admin-behaviour")
	us := setupUsers(t, ctx, c, p, []userSpec{
		{Name: "plain"},
		{Name: "+15550001234", Phone: true, PresetSMS: &factor{Enabled: true, Preferred: true}},
	})
	set := func(name string, sms *types.SMSMfaSettingsType, totp *types.SoftwareTokenMfaSettingsType) error {
		_, err := c.AdminSetUserMFAPreference(ctx, &cip.AdminSetUserMFAPreferenceInput{
			UserPoolId: aws.String(p.ID), Username: aws.String(name), SMSMfaSettings: sms, SoftwareTokenMfaSettings: totp,
		})
		return err
	}
	for _, tt := range []struct {
		what, user, code string
	}{
		{"TOTP without a verified software token", "plain", "InvalidParameterException"},
		{"a user the pool lacks", "nobody", "UserNotFoundException"},
	} {
		var ae smithy.APIError
		if err := set(tt.user, nil, &types.SoftwareTokenMfaSettingsType{Enabled: true}); !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
			t.Errorf("%s: error %v, want %s", tt.what, err, tt.code)
		}
	}
	states := getAllMFA(t, ctx, c, p, us)
	for i, want := range []mfaState{mfa(""), mfa(smsMFA, smsMFA)} {
		if !states[i].equal(want) {
			t.Errorf("user %q: MFA %v, want %v", us[i].Spec.Name, states[i], want)
		}
	}
}
