package batch_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// b64url encodes one JWT segment.
func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fakeSignature stands in for a JWT's signature in hand-made tokens.
var fakeSignature = b64url("this is not a real RS256 signature, only its stand-in")

// jwtOf builds an unsigned three-part token from a raw JSON payload, for
// claims cognitotest.Token cannot express.
func jwtOf(payload string) string {
	return b64url(`{"alg":"RS256","kid":"test"}`) + "." + b64url(payload) + "." + fakeSignature
}

// assertNoTokenPiece fails when any text holds 16 characters in a row of
// token: tokens are bearer secrets and the contract allows no piece of one
// in anything a user sees.
func assertNoTokenPiece(t *testing.T, token string, texts ...string) {
	t.Helper()
	if len(token) < 16 {
		t.Fatalf("test token is %d characters, too short to check for 16-character pieces", len(token))
	}
	for _, text := range texts {
		for i := 0; i+16 <= len(token); i++ {
			if piece := token[i : i+16]; strings.Contains(text, piece) {
				t.Errorf("%q holds the token piece %q (token offset %d)", text, piece, i)
				break
			}
		}
	}
}

func TestParseTokenValid(t *testing.T) {
	exp := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name   string
		claims cognitotest.Claims
		want   batch.Claims
	}{
		{
			name:   "access token",
			claims: cognitotest.Claims{Sub: "0f2b3c4d-0000-4000-8000-000000000001", Username: "alice", Region: "eu-west-2", PoolID: "eu-west-2_AbCdEf", Exp: exp},
			want: batch.Claims{
				Issuer:   "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbCdEf",
				Sub:      "0f2b3c4d-0000-4000-8000-000000000001",
				Username: "alice",
				Region:   "eu-west-2",
				Pool:     "eu-west-2_AbCdEf",
				Exp:      exp,
			},
		},
		{
			name:   "no scope claim is fine",
			claims: cognitotest.Claims{Sub: "sub-2", Username: "bob", Scope: cognitotest.Omit, Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Sub: "sub-2", Username: "bob", Region: "us-east-1", Pool: "us-east-1_TEST", Exp: exp},
		},
		{
			name:   "admin scope among others",
			claims: cognitotest.Claims{Sub: "sub-3", Username: "carol", Scope: "openid aws.cognito.signin.user.admin email", Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Sub: "sub-3", Username: "carol", Region: "us-east-1", Pool: "us-east-1_TEST", Exp: exp},
		},
		{
			name:   "no username claim",
			claims: cognitotest.Claims{Sub: "sub-4", Username: cognitotest.Omit, Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Sub: "sub-4", Region: "us-east-1", Pool: "us-east-1_TEST", Exp: exp},
		},
		{
			name:   "China partition issuer",
			claims: cognitotest.Claims{Sub: "sub-5", Username: "dave", Issuer: "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_X", Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_X", Sub: "sub-5", Username: "dave", Region: "cn-north-1", Pool: "cn-north-1_X", Exp: exp},
		},
		{
			name:   "GovCloud issuer",
			claims: cognitotest.Claims{Sub: "sub-6", Username: "erin", Region: "us-gov-west-1", Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_TEST", Sub: "sub-6", Username: "erin", Region: "us-gov-west-1", Pool: "us-gov-west-1_TEST", Exp: exp},
		},
		{
			name:   "issuer not Cognito gives no region",
			claims: cognitotest.Claims{Sub: "sub-7", Username: "frank", Issuer: "https://login.example.com/pool", Exp: exp},
			want:   batch.Claims{Issuer: "https://login.example.com/pool", Sub: "sub-7", Username: "frank", Exp: exp},
		},
		{
			name:   "Cognito host lookalike gives no region",
			claims: cognitotest.Claims{Sub: "sub-8", Username: "grace", Issuer: "https://cognito-idp.us-east-1.amazonaws.com.evil.example/pool", Exp: exp},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-east-1.amazonaws.com.evil.example/pool", Sub: "sub-8", Username: "grace", Exp: exp},
		},
		{
			name:   "plain http issuer gives no region",
			claims: cognitotest.Claims{Sub: "sub-9", Username: "heidi", Issuer: "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Exp: exp},
			want:   batch.Claims{Issuer: "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Sub: "sub-9", Username: "heidi", Exp: exp},
		},
		{
			name:   "expired token still parses: expiry is checked at dispatch",
			claims: cognitotest.Claims{Sub: "sub-10", Username: "ivan", Exp: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
			want:   batch.Claims{Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", Sub: "sub-10", Username: "ivan", Region: "us-east-1", Pool: "us-east-1_TEST", Exp: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := cognitotest.Token(tc.claims)
			got, err := batch.ParseToken(batch.Token(tok))
			if err != nil {
				t.Fatalf("ParseToken = %v, want no error", err)
			}
			if got != tc.want {
				t.Errorf("ParseToken:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTokenInvalid(t *testing.T) {
	good := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	parts := strings.Split(good, ".")
	header, payload := parts[0], parts[1]
	// badLength makes a segment whose length no base64 text can have.
	badLength := payload
	for len(badLength)%4 != 1 {
		badLength += "A"
	}
	tests := []struct {
		name     string
		token    string
		wantCode string
		wantMsg  string
	}{
		{
			name:     "blank",
			token:    "",
			wantCode: batch.CodeInvalidRow,
			wantMsg:  "access_token is blank",
		},
		{
			name:     "ID token",
			token:    cognitotest.Token(cognitotest.Claims{Username: "alice", TokenUse: "id"}),
			wantCode: batch.CodeNotAccessToken,
			wantMsg:  `this is an ID token (token_use "id"): SetUserMFAPreference needs the user's access token`,
		},
		{
			name:     "no token_use claim",
			token:    cognitotest.Token(cognitotest.Claims{Username: "alice", TokenUse: cognitotest.Omit}),
			wantCode: batch.CodeNotAccessToken,
			wantMsg:  `token_use is "", not "access"`,
		},
		{
			name:     "other token_use",
			token:    cognitotest.Token(cognitotest.Claims{Username: "alice", TokenUse: "refresh"}),
			wantCode: batch.CodeNotAccessToken,
			wantMsg:  `token_use is "refresh", not "access"`,
		},
		{
			name:     "scope without the admin scope",
			token:    cognitotest.Token(cognitotest.Claims{Username: "alice", Scope: "openid email profile"}),
			wantCode: batch.CodeMissingScope,
			wantMsg:  "the token's scope lacks aws.cognito.signin.user.admin, which SetUserMFAPreference needs: request it in the app client's OAuth scopes",
		},
		{
			name:     "scope with a longer name that starts like the admin scope",
			token:    cognitotest.Token(cognitotest.Claims{Username: "alice", Scope: "aws.cognito.signin.user.admin.extra"}),
			wantCode: batch.CodeMissingScope,
			wantMsg:  "the token's scope lacks aws.cognito.signin.user.admin, which SetUserMFAPreference needs: request it in the app client's OAuth scopes",
		},
		{
			name:     "empty scope claim",
			token:    jwtOf(`{"sub":"s","token_use":"access","scope":"","exp":1900000000}`),
			wantCode: batch.CodeMissingScope,
			wantMsg:  "the token's scope lacks aws.cognito.signin.user.admin, which SetUserMFAPreference needs: request it in the app client's OAuth scopes",
		},
		{
			name:     "no sub claim",
			token:    cognitotest.Token(cognitotest.Claims{Sub: cognitotest.Omit, Username: "alice"}),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token has no sub claim",
		},
		{
			name:     "no exp claim",
			token:    jwtOf(`{"sub":"s","username":"alice","token_use":"access","scope":"aws.cognito.signin.user.admin"}`),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token has no valid exp claim",
		},
		{
			name:     "negative exp",
			token:    jwtOf(`{"sub":"s","token_use":"access","exp":-5}`),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token has no valid exp claim",
		},
		{
			name:     "exp far beyond any real token",
			token:    jwtOf(`{"sub":"s","token_use":"access","exp":1e300}`),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token has no valid exp claim",
		},
		{
			name:     "exp as a string",
			token:    jwtOf(`{"sub":"s","token_use":"access","exp":"1900000000"}`),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its payload is not a valid JSON object of claims",
		},
		{
			name:     "two parts",
			token:    header + "." + payload,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: it has 2 dot-separated parts, not 3",
		},
		{
			name:     "four parts",
			token:    good + ".extra",
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: it has 4 dot-separated parts, not 3",
		},
		{
			name:     "one part",
			token:    strings.ReplaceAll(good, ".", ""),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: it has 1 dot-separated parts, not 3",
		},
		{
			name:     "payload not base64",
			token:    header + "." + badLength + "." + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its payload is not base64url",
		},
		{
			name:     "payload not JSON",
			token:    header + "." + b64url("plain text, not JSON claims at all") + "." + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its payload is not a JSON object",
		},
		{
			name:     "payload a JSON array",
			token:    header + "." + b64url(`["sub","token_use","access"]`) + "." + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its payload is not a JSON object",
		},
		{
			name:     "payload broken JSON",
			token:    header + "." + b64url(`{"sub":"s","token_use":"access",`) + "." + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its payload is not a valid JSON object of claims",
		},
		{
			name:     "header not JSON",
			token:    b64url("not a JOSE header at all") + "." + payload + "." + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its header is not a JSON object",
		},
		{
			name:     "empty signature",
			token:    header + "." + payload + ".",
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: its signature is empty",
		},
		{
			name:     "standard base64 characters",
			token:    header + "." + payload + "." + "ab+cd/ef" + fakeSignature,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  fmt.Sprintf("access_token is not a JWT: byte %d is not base64url or a dot", len(header)+len(payload)+5),
		},
		{
			name:     "Bearer prefix pasted with the token",
			token:    "Bearer " + good,
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: byte 7 is not base64url or a dot",
		},
		{
			name:     "non-ASCII character",
			token:    good[:40] + "é" + good[40:],
			wantCode: batch.CodeMalformedToken,
			wantMsg:  "access_token is not a JWT: byte 41 is not base64url or a dot",
		},
		{
			name:     "longer than any JWT",
			token:    good + strings.Repeat("A", 16<<10),
			wantCode: batch.CodeMalformedToken,
			wantMsg:  fmt.Sprintf("access_token is %d bytes, more than a JWT can be (16384)", len(good)+16<<10),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batch.ParseToken(batch.Token(tc.token))
			if err == nil {
				t.Fatalf("ParseToken = nil error, want %s", tc.wantCode)
			}
			if err.Code != tc.wantCode || err.Message != tc.wantMsg {
				t.Errorf("ParseToken error = %s / %q\nwant                %s / %q", err.Code, err.Message, tc.wantCode, tc.wantMsg)
			}
			if tc.token != "" {
				assertNoTokenPiece(t, tc.token, err.Message, err.Error())
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	minted := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	sum := sha256.Sum256([]byte(minted))
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{name: "empty", token: "", want: "e3b0c44298fc1c14"},
		{name: "abc", token: "abc", want: "ba7816bf8f01cfea"},
		{name: "minted token", token: minted, want: hex.EncodeToString(sum[:])[:16]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := batch.Fingerprint(batch.Token(tc.token)); got != tc.want {
				t.Errorf("Fingerprint = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("different tokens differ", func(t *testing.T) {
		other := cognitotest.Token(cognitotest.Claims{Username: "alice"})
		if batch.Fingerprint(batch.Token(minted)) == batch.Fingerprint(batch.Token(other)) {
			t.Errorf("two different tokens have the same fingerprint")
		}
	})
}

// TestTokenFormatting checks that printing a token, or a row holding one,
// never shows it: a stray %v in a log line must not leak a credential.
func TestTokenFormatting(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	row := batch.Row{N: 1, ID: "alice", Token: batch.Token(tok)}
	tests := []struct {
		name string
		got  string
	}{
		{"%v", fmt.Sprintf("%v", batch.Token(tok))},
		{"%s", fmt.Sprintf("%s", batch.Token(tok))},
		{"%q", fmt.Sprintf("%q", batch.Token(tok))},
		{"%x", fmt.Sprintf("%x", batch.Token(tok))},
		{"%#v", fmt.Sprintf("%#v", batch.Token(tok))},
		{"row %v", fmt.Sprintf("%v", row)},
		{"row %+v", fmt.Sprintf("%+v", row)},
		{"row %#v", fmt.Sprintf("%#v", row)},
		{"row pointer %+v", fmt.Sprintf("%+v", &row)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertNoTokenPiece(t, tok, tc.got)
		})
	}
}
