package cognitotest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	"github.com/mfabatch/mfabatch/batch"
)

const testPool = "us-east-1_AbC123"

// newAdminClient returns the real SDK client, signing with creds for
// region, pointed at srv.
func newAdminClient(srv *Server, region string, creds aws.Credentials) *cip.Client {
	return cip.New(cip.Options{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   batch.WholeBodies{Client: awshttp.NewBuildableClient()}, // a whole body: see batch.WholeBodies
		Credentials:  credentials.StaticCredentialsProvider{Value: creds},
	})
}

func adminSetMFA(ctx context.Context, c *cip.Client, pool, username string) error {
	_, err := c.AdminSetUserMFAPreference(ctx, &cip.AdminSetUserMFAPreferenceInput{
		UserPoolId:     aws.String(pool),
		Username:       aws.String(username),
		SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: true},
	})
	return err
}

// errorCode is the API error code of err, or "" when it is none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestAdminSigned(t *testing.T) {
	for _, creds := range []aws.Credentials{TestCredentials, TestSessionCredentials} {
		t.Run(creds.AccessKeyID, func(t *testing.T) {
			srv := NewServer(nil)
			defer srv.Close()
			if err := adminSetMFA(context.Background(), newAdminClient(srv, "us-east-1", creds), testPool, "alice"); err != nil {
				t.Fatalf("AdminSetUserMFAPreference: %v", err)
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("server got %d calls, want 1", len(calls))
			}
			c := calls[0]
			want := Call{N: 1, At: c.At, Op: "AdminSetUserMFAPreference", Body: c.Body, Attempt: 1,
				Username: "alice", PoolID: testPool, AccessKeyID: creds.AccessKeyID, SigningRegion: "us-east-1", Verified: true,
				SessionToken: creds.SessionToken}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("call = %+v\nwant %+v", c, want)
			}
		})
	}
}

// TestAdminSignatureRefused checks that an admin call not signed by a
// trusted key for the pool's region is refused as the service refuses it,
// without the decider, and recorded with who claimed to sign it.
func TestAdminSignatureRefused(t *testing.T) {
	wrongSecret := TestCredentials
	wrongSecret.SecretAccessKey = strings.Repeat("x", 40)
	unknown := TestCredentials
	unknown.AccessKeyID = "AKIA2MFABATCHUNKNOWN"
	noToken := TestSessionCredentials
	noToken.SessionToken = ""
	tests := []struct {
		name   string
		region string
		creds  aws.Credentials
		code   string
	}{
		{"wrong secret", "us-east-1", wrongSecret, "InvalidSignatureException"},
		{"wrong region", "eu-west-1", TestCredentials, "InvalidSignatureException"},
		{"unknown key", "us-east-1", unknown, "UnrecognizedClientException"},
		{"no session token", "us-east-1", noToken, "UnrecognizedClientException"},
		{"expired", "us-east-1", TestExpiredCredentials, "ExpiredTokenException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decided atomic.Bool
			srv := NewServer(func(Call) Reply { decided.Store(true); return Reply{} })
			defer srv.Close()
			err := adminSetMFA(context.Background(), newAdminClient(srv, tt.region, tt.creds), testPool, "alice")
			var re *awshttp.ResponseError
			if code := errorCode(err); code != tt.code || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
				t.Errorf("error %v, want HTTP 400 %s", err, tt.code)
			}
			if decided.Load() {
				t.Error("decider consulted for a call the service refuses")
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("server got %d calls, want 1", len(calls))
			}
			if c := calls[0]; c.AccessKeyID != tt.creds.AccessKeyID || c.SigningRegion != tt.region || c.Verified {
				t.Errorf("call signed by %q for %q, verified %v; want %q, %q, false",
					c.AccessKeyID, c.SigningRegion, c.Verified, tt.creds.AccessKeyID, tt.region)
			}
		})
	}
}

// signedRequest is an admin request signed with TestCredentials at at;
// edit, when not nil, changes it after signing.
func signedRequest(t *testing.T, srv *Server, body string, at time.Time, service string, edit func(*http.Request)) *http.Request {
	t.Helper()
	req := signedOp(t, srv, "AdminSetUserMFAPreference", body, at, service)
	if edit != nil {
		edit(req)
	}
	return req
}

// signedOp is a request for op signed with TestCredentials at at.
func signedOp(t *testing.T, srv *Server, op, body string, at time.Time, service string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", jsonType)
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), TestCredentials, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestAdminRequestRefused sends admin requests the service refuses before
// deciding: unsigned, tampered with, out of date, badly formed.
func TestAdminRequestRefused(t *testing.T) {
	good := `{"UserPoolId":"us-east-1_AbC123","Username":"alice","SMSMfaSettings":{"Enabled":true}}`
	now := time.Now()
	tests := []struct {
		name, body, service string
		at                  time.Time
		edit                func(*http.Request)
		code                string
	}{
		{"unsigned", good, "cognito-idp", now, func(r *http.Request) { r.Header.Del("Authorization") }, "MissingAuthenticationTokenException"},
		{"not SigV4", good, "cognito-idp", now, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, "IncompleteSignatureException"},
		{"body changed", good, "cognito-idp", now, func(r *http.Request) {
			b := strings.Replace(good, "alice", "alicf", 1)
			r.Body = io.NopCloser(strings.NewReader(b))
		}, "InvalidSignatureException"},
		{"body changed, its old hash claimed", good, "cognito-idp", now, func(r *http.Request) {
			sum := sha256.Sum256([]byte(good))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(good, "alice", "alicf", 1)))
		}, "InvalidSignatureException"},
		{"date changed", good, "cognito-idp", now, func(r *http.Request) {
			r.Header.Set("X-Amz-Date", now.Add(time.Second).UTC().Format(amzDateFormat))
		}, "InvalidSignatureException"},
		{"an hour old", good, "cognito-idp", now.Add(-time.Hour), nil, "InvalidSignatureException"},
		{"other service", good, "sts", now, nil, "InvalidSignatureException"},
		{"no username", `{"UserPoolId":"us-east-1_AbC123"}`, "cognito-idp", now, nil, "InvalidParameterException"},
		{"no pool", `{"Username":"alice"}`, "cognito-idp", now, nil, "InvalidParameterException"},
		{"bad pool id", `{"UserPoolId":"us-east-1","Username":"alice"}`, "cognito-idp", now, nil, "InvalidParameterException"},
		{"malformed JSON", `{"UserPoolId":`, "cognito-idp", now, nil, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decided atomic.Bool
			srv := NewServer(func(Call) Reply { decided.Store(true); return Reply{} })
			defer srv.Close()
			resp, err := srv.Client().Do(signedRequest(t, srv, tt.body, tt.at, tt.service, tt.edit))
			if err != nil {
				t.Fatal(err)
			}
			body := readError(t, resp)
			if resp.StatusCode != 400 || body.Type != tt.code || body.Message == "" {
				t.Errorf("answer = %d %s %q, want 400 %s", resp.StatusCode, body.Type, body.Message, tt.code)
			}
			if decided.Load() {
				t.Error("decider consulted for a request the service refuses")
			}
			signed := tt.code == "InvalidParameterException" || tt.code == "SerializationException"
			if c := srv.Calls(); len(c) != 1 || c[0].Verified != signed {
				t.Errorf("calls = %+v, want 1, verified only when the signature holds", c)
			}
		})
	}
}

// TestAdminMessagesKeepSecrets checks that no answer of the server quotes
// a credential: the tool's leak checks must catch the tool, not the fake.
func TestAdminMessagesKeepSecrets(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	wrong := TestSessionCredentials
	wrong.SecretAccessKey = strings.Repeat("y", 40)
	for _, creds := range []aws.Credentials{wrong, TestExpiredCredentials} {
		err := adminSetMFA(context.Background(), newAdminClient(srv, "us-east-1", creds), testPool, "alice")
		for _, secret := range []string{creds.SecretAccessKey, creds.SessionToken[:16], TestSessionCredentials.SecretAccessKey} {
			if err == nil || strings.Contains(err.Error(), secret) {
				t.Errorf("error %v: want a refusal that quotes no secret", err)
			}
		}
	}
}

// TestSignedTokenCall checks that a token call needs no signature, and
// that a signed one is served but not verified: only admin calls are.
func TestSignedTokenCall(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	token := Token(Claims{Username: "bob"})
	if _, err := setMFA(context.Background(), newAdminClient(srv, "us-east-1", TestCredentials), token); err != nil {
		t.Fatalf("signed SetUserMFAPreference: %v", err)
	}
	if _, err := setMFA(context.Background(), newClient(srv), token); err != nil {
		t.Fatalf("unsigned SetUserMFAPreference: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Verified || calls[1].Verified || calls[1].Attempt != 2 || calls[1].Username != "bob" {
		t.Errorf("calls = %+v; want 2, neither verified, the second attempt 2 for user bob", calls)
	}
}

// TestAdminAnswers checks the answers by user name, and that attempts
// count by pool and user name.
func TestAdminAnswers(t *testing.T) {
	srv := NewServer(ByUsername(AdminAnswers, FailAttempts(1, Throttle)))
	defer srv.Close()
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	tests := []struct {
		pool, user, code, message string
	}{
		{testPool, "nouser-ann", "UserNotFoundException", "User does not exist."},
		{testPool, "nototp-bob", "InvalidParameterException", "User has not verified software token mfa"},
		{testPool, "denied-cy", "AccessDeniedException", "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123"},
		{"us-east-1_Gone1", "nopool-dee", "ResourceNotFoundException", "User pool us-east-1_Gone1 does not exist."},
		{testPool, "eve", "TooManyRequestsException", "Rate exceeded"},
		{"us-east-1_Other", "eve", "TooManyRequestsException", "Rate exceeded"},
		{testPool, "eve", "", ""},
		{testPool, "nouser", "TooManyRequestsException", "Rate exceeded"}, // no dash: not a prefix
	}
	for _, tt := range tests {
		err := adminSetMFA(context.Background(), c, tt.pool, tt.user)
		var ae smithy.APIError
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("%s/%s: %v, want success", tt.pool, tt.user, err)
		case tt.code == "":
		case !errors.As(err, &ae) || ae.ErrorCode() != tt.code || !strings.Contains(ae.ErrorMessage(), tt.message):
			t.Errorf("%s/%s: error %v, want %s with %q", tt.pool, tt.user, err, tt.code, tt.message)
		}
	}
	var attempts []int
	for _, call := range srv.Calls() {
		attempts = append(attempts, call.Attempt)
	}
	if want := []int{1, 1, 1, 1, 1, 1, 2, 1}; !reflect.DeepEqual(attempts, want) {
		t.Errorf("attempts = %v, want %v", attempts, want)
	}
}

// TestMixAdmin checks that Mix decides admin calls by user: calls that
// carry no token still get different answers.
func TestMixAdmin(t *testing.T) {
	decide := Mix(7, map[Fault]float64{Throttle: 0.5})
	got := map[Fault]int{}
	for i := range 200 {
		c := Call{Op: "AdminSetUserMFAPreference", PoolID: testPool, Username: "user" + strconv.Itoa(i), Attempt: 1}
		got[decide(c).Fault]++
	}
	if got[None] < 60 || got[Throttle] < 60 {
		t.Errorf("answers %v: want about half throttled, by user", got)
	}
}
