package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

func TestBody(t *testing.T) {
	tests := []struct {
		name  string
		token string
		in    *cip.SetUserMFAPreferenceInput
		want  string
	}{
		{
			name:  "no blocks",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{},
			want:  `{"AccessToken":"tok"}`,
		},
		{
			name:  "SMS block with both fields false",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{SMSMfaSettings: &types.SMSMfaSettingsType{}},
			want:  `{"AccessToken":"tok","SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`,
		},
		{
			name:  "TOTP enabled, not preferred",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true}},
			want:  `{"AccessToken":"tok","SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":false}}`,
		},
		{
			name:  "email enabled and preferred",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{EmailMfaSettings: &types.EmailMfaSettingsType{Enabled: true, PreferredMfa: true}},
			want:  `{"AccessToken":"tok","EmailMfaSettings":{"Enabled":true,"PreferredMfa":true}}`,
		},
		{
			name:  "passkey block has Enabled only",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{WebAuthnMfaSettings: &types.WebAuthnMfaSettingsType{Enabled: true}},
			want:  `{"AccessToken":"tok","WebAuthnMfaSettings":{"Enabled":true}}`,
		},
		{
			name:  "passkey disabled",
			token: "tok",
			in:    &cip.SetUserMFAPreferenceInput{WebAuthnMfaSettings: &types.WebAuthnMfaSettingsType{}},
			want:  `{"AccessToken":"tok","WebAuthnMfaSettings":{"Enabled":false}}`,
		},
		{
			name:  "every block, in the SDK's key order",
			token: "tok",
			in: &cip.SetUserMFAPreferenceInput{
				WebAuthnMfaSettings:      &types.WebAuthnMfaSettingsType{},
				SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true, PreferredMfa: true},
				SMSMfaSettings:           &types.SMSMfaSettingsType{},
				EmailMfaSettings:         &types.EmailMfaSettingsType{Enabled: true},
			},
			want: `{"AccessToken":"tok","EmailMfaSettings":{"Enabled":true,"PreferredMfa":false},"SMSMfaSettings":{"Enabled":false,"PreferredMfa":false},"SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":true},"WebAuthnMfaSettings":{"Enabled":false}}`,
		},
		{
			name:  "the token argument replaces the input's AccessToken, as the report's redaction needs",
			token: "<redacted:0123456789abcdef>",
			in: &cip.SetUserMFAPreferenceInput{
				AccessToken:    aws.String("the-real-secret-access-token-value"),
				SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: true},
			},
			want: `{"AccessToken":"<redacted:0123456789abcdef>","SMSMfaSettings":{"Enabled":true,"PreferredMfa":false}}`,
		},
		{
			name:  "quotes and backslashes escaped",
			token: `a"b\c"`,
			in:    &cip.SetUserMFAPreferenceInput{},
			want:  `{"AccessToken":"a\"b\\c\""}`,
		},
		{
			// Spelled as encoding/json and the SDK spell them: \n, \t, \r.
			name:  "control characters escaped",
			token: "a\nb\tc\rd\x00e\x1f",
			in:    &cip.SetUserMFAPreferenceInput{},
			want:  `{"AccessToken":"a\nb\tc\rd\u0000e\u001f"}`,
		},
		{
			name:  "DEL, non-ASCII and HTML characters pass through",
			token: "\x7fé</script>&",
			in:    &cip.SetUserMFAPreferenceInput{},
			want:  "{\"AccessToken\":\"\x7fé</script>&\"}",
		},
		{
			name:  "empty token",
			token: "",
			in:    &cip.SetUserMFAPreferenceInput{},
			want:  `{"AccessToken":""}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := batch.Body(tc.token, tc.in)
			if string(got) != tc.want {
				t.Errorf("Body =\n %s\nwant\n %s", got, tc.want)
			}
			if i := bytes.IndexFunc(got, func(r rune) bool { return r < 0x20 }); i >= 0 {
				t.Errorf("Body holds control character %q unescaped at byte %d", got[i], i)
			}
			var back struct{ AccessToken string }
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("Body is not valid JSON: %v", err)
			}
			if back.AccessToken != tc.token {
				t.Errorf("AccessToken reads back as %q, want %q", back.AccessToken, tc.token)
			}
		})
	}
}

// enableSMS is a call that turns on alice's SMS MFA.
func enableSMS() *cip.SetUserMFAPreferenceInput {
	return &cip.SetUserMFAPreferenceInput{
		AccessToken:    aws.String(cognitotest.Token(cognitotest.Claims{Username: "alice"})),
		SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: true},
	}
}

// sdkOnlyClient is the SDK's client without the tool's body rewrite.
func sdkOnlyClient(url string) *cip.Client {
	return cip.New(cip.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{}})
}

// TestBodyMatchesSDK checks Body against the SDK's own serializer where the
// SDK leaves nothing out: with every field true the bytes must be the same.
func TestBodyMatchesSDK(t *testing.T) {
	srv := cognitotest.NewServer(nil)
	defer srv.Close()
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	in := &cip.SetUserMFAPreferenceInput{
		AccessToken:              aws.String(tok),
		SMSMfaSettings:           &types.SMSMfaSettingsType{Enabled: true, PreferredMfa: true},
		SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true, PreferredMfa: true},
		EmailMfaSettings:         &types.EmailMfaSettingsType{Enabled: true, PreferredMfa: true},
		WebAuthnMfaSettings:      &types.WebAuthnMfaSettingsType{Enabled: true},
	}
	if _, err := sdkOnlyClient(srv.URL).SetUserMFAPreference(context.Background(), in); err != nil {
		t.Fatalf("SetUserMFAPreference: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("server got %d calls, want 1", len(calls))
	}
	if got, want := string(batch.Body(tok, in)), string(calls[0].Body); got != want {
		t.Errorf("Body =\n %s\nthe SDK sends\n %s", got, want)
	}
}

// TestNewClientSendsExplicitFalse sends through the tool's client and
// checks the bytes the server received: every field of a sent block, false
// included, where the SDK alone sends {}.
func TestNewClientSendsExplicitFalse(t *testing.T) {
	tests := []struct {
		name string
		in   cip.SetUserMFAPreferenceInput
		// want is a piece of the body the server must receive; sdkAlone the
		// same piece as the SDK without the rewrite sends it.
		want     string
		sdkAlone string
	}{
		{
			name:     "SMS disabled and not preferred",
			in:       cip.SetUserMFAPreferenceInput{SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: false, PreferredMfa: false}},
			want:     `,"SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`,
			sdkAlone: `,"SMSMfaSettings":{}}`,
		},
		{
			name:     "TOTP enabled, not preferred",
			in:       cip.SetUserMFAPreferenceInput{SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true}},
			want:     `,"SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":false}}`,
			sdkAlone: `,"SoftwareTokenMfaSettings":{"Enabled":true}}`,
		},
		{
			name:     "passkey disabled",
			in:       cip.SetUserMFAPreferenceInput{WebAuthnMfaSettings: &types.WebAuthnMfaSettingsType{Enabled: false}},
			want:     `,"WebAuthnMfaSettings":{"Enabled":false}}`,
			sdkAlone: `,"WebAuthnMfaSettings":{}}`,
		},
		{
			name: "email and SMS blocks",
			in: cip.SetUserMFAPreferenceInput{
				SMSMfaSettings:   &types.SMSMfaSettingsType{},
				EmailMfaSettings: &types.EmailMfaSettingsType{Enabled: true, PreferredMfa: true},
			},
			want:     `,"EmailMfaSettings":{"Enabled":true,"PreferredMfa":true},"SMSMfaSettings":{"Enabled":false,"PreferredMfa":false}}`,
			sdkAlone: `,"EmailMfaSettings":{"Enabled":true,"PreferredMfa":true},"SMSMfaSettings":{}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
			in := tc.in
			in.AccessToken = aws.String(tok)

			srv := cognitotest.NewServer(nil)
			defer srv.Close()
			// No credentials: SetUserMFAPreference is authorised by the token.
			client, err := batch.NewClient(aws.Config{Region: "us-east-1"}, srv.URL, 4)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if _, err := client.SetUserMFAPreference(context.Background(), &in); err != nil {
				t.Fatalf("SetUserMFAPreference through the tool's client: %v", err)
			}
			if _, err := sdkOnlyClient(srv.URL).SetUserMFAPreference(context.Background(), &in); err != nil {
				t.Fatalf("SetUserMFAPreference through the SDK alone: %v", err)
			}
			calls := srv.Calls()
			if len(calls) != 2 {
				t.Fatalf("server got %d calls, want 2", len(calls))
			}
			head := `{"AccessToken":"` + tok + `"`
			if got, want := string(calls[0].Body), head+tc.want; got != want {
				t.Errorf("the tool's client sent\n %s\nwant\n %s", got, want)
			}
			if got, want := string(calls[0].Body), string(batch.Body(tok, &in)); got != want {
				t.Errorf("the tool's client sent\n %s\nwhile Body (the report's request) gives\n %s", got, want)
			}
			// The control: without the rewrite the SDK drops false fields,
			// which is why the tool rewrites the body.
			if got, want := string(calls[1].Body), head+tc.sdkAlone; got != want {
				t.Errorf("the SDK alone sent\n %s\nwant\n %s", got, want)
			}
		})
	}
}

// TestNewClientMakesOneCallPerAttempt checks the SDK's own retries are off:
// every call must pass the tool's limiter, so a failure is one call.
func TestNewClientMakesOneCallPerAttempt(t *testing.T) {
	tests := []struct {
		name  string
		fault cognitotest.Fault
		code  string
	}{
		{"throttled", cognitotest.Throttle, "TooManyRequestsException"},
		{"internal error", cognitotest.Internal, "InternalErrorException"},
		{"HTTP 503", cognitotest.ServerError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := cognitotest.NewServer(cognitotest.FailAttempts(10, tc.fault))
			defer srv.Close()
			client, err := batch.NewClient(aws.Config{Region: "us-east-1"}, srv.URL, 1)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			in := enableSMS()
			_, err = client.SetUserMFAPreference(context.Background(), in)
			if err == nil {
				t.Fatal("SetUserMFAPreference succeeded, want the server's error")
			}
			if tc.code != "" && !strings.Contains(err.Error(), tc.code) {
				t.Errorf("error = %v, want it to name %s", err, tc.code)
			}
			if n := len(srv.Calls()); n != 1 {
				t.Errorf("server got %d calls for one SetUserMFAPreference, want 1 (SDK retries must be off)", n)
			}
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"https://cognito-idp.us-east-1.amazonaws.com", true},
		{"https://emulator.internal:8443/base", true},
		{"https://10.0.0.1", true},
		{"http://127.0.0.1:4566", true},
		{"http://127.0.0.2:9000", true},
		{"http://localhost", true},
		{"http://LOCALHOST:5000", true},
		{"http://[::1]", true},
		{"http://[::1]:4566/", true},
		{"HTTP://127.0.0.1:4566", true},
		{"http://example.com", false},
		{"http://10.0.0.1", false},
		{"http://192.168.1.10:4566", false},
		{"http://0.0.0.0:4566", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://127.0.0.1:4566@example.com", false},
		{"ftp://x", false},
		{"ws://localhost", false},
		{"not a url", false},
		{"127.0.0.1:4566", false},
		{"//example.com", false},
		{"https://", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			err := batch.CheckEndpoint(tc.endpoint)
			if tc.ok {
				if err != nil {
					t.Errorf("CheckEndpoint(%q) = %v, want nil", tc.endpoint, err)
				}
				return
			}
			if !errors.Is(err, batch.ErrUnsafeEndpoint) {
				t.Fatalf("CheckEndpoint(%q) = %v, want ErrUnsafeEndpoint", tc.endpoint, err)
			}
			if !strings.Contains(err.Error(), tc.endpoint) {
				t.Errorf("CheckEndpoint(%q) = %q, want the message to name the endpoint", tc.endpoint, err)
			}
		})
	}
}

func TestNewClientChecksEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		cfg      aws.Config
		endpoint string
		ok       bool
	}{
		{name: "AWS default endpoint", cfg: aws.Config{Region: "us-east-1"}, ok: true},
		{name: "loopback override", cfg: aws.Config{Region: "us-east-1"}, endpoint: "http://127.0.0.1:4566", ok: true},
		{name: "plain http override off this machine", cfg: aws.Config{Region: "us-east-1"}, endpoint: "http://example.com"},
		{name: "plain http endpoint from the AWS config", cfg: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://10.1.2.3:4566")}},
		{name: "override replaces an unsafe AWS config endpoint", cfg: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://10.1.2.3:4566")}, endpoint: "https://cognito.example.com", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, err := batch.NewClient(tc.cfg, tc.endpoint, 2)
			if tc.ok {
				if err != nil || client == nil {
					t.Errorf("NewClient = %v, %v; want a client", client, err)
				}
				return
			}
			if !errors.Is(err, batch.ErrUnsafeEndpoint) {
				t.Errorf("NewClient error = %v, want ErrUnsafeEndpoint", err)
			}
		})
	}
}

// TestNewClientReadsAnswersAsTheSDKDoes gives the tool's client and the
// SDK alone the same answers: the tool's client, which changes what is
// sent, must read every answer as the SDK does, errors included.
func TestNewClientReadsAnswersAsTheSDKDoes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"empty object", 200, `{}`, true},
		{"empty object with spaces", 200, " {  }\n", true},
		{"object with an unknown field", 200, `{"Extra":1}`, true},
		{"object longer than the quick look", 200, `{"Extra":"` + strings.Repeat("x", 200) + `"}`, true},
		{"empty body", 200, ``, true},
		{"not JSON", 200, `<html>`, false},
		{"cut short", 200, `{`, false},
		{"an array", 200, `[]`, false},
		{"error", 400, `{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.Header().Set("X-Amzn-Requestid", "req-1")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			client, err := batch.NewClient(aws.Config{Region: "us-east-1"}, srv.URL, 1)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			in := enableSMS()
			out, err := client.SetUserMFAPreference(context.Background(), in)
			_, sdkErr := sdkOnlyClient(srv.URL).SetUserMFAPreference(context.Background(), in)
			if (err == nil) != tc.ok || (sdkErr == nil) != tc.ok {
				t.Fatalf("the tool's client: %v; the SDK alone: %v; want success %v", err, sdkErr, tc.ok)
			}
			if err != nil {
				var te, se smithy.APIError
				if errors.As(err, &te) != errors.As(sdkErr, &se) || te != nil && (te.ErrorCode() != se.ErrorCode() || te.ErrorMessage() != se.ErrorMessage()) {
					t.Errorf("the tool's client: %v; the SDK alone: %v", err, sdkErr)
				}
				return
			}
			if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); id != "req-1" {
				t.Errorf("request id = %q, want req-1", id)
			}
		})
	}
}
