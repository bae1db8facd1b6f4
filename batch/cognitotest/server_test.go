package cognitotest

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/mfabatch/mfabatch/batch"
)

// newClient returns the real SDK client, without retries or credentials,
// pointed at srv.
func newClient(srv *Server) *cip.Client {
	return cip.New(cip.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   batch.WholeBodies{Client: awshttp.NewBuildableClient()}, // a whole body: see batch.WholeBodies
	})
}

func setMFA(ctx context.Context, c *cip.Client, token string) (*cip.SetUserMFAPreferenceOutput, error) {
	return c.SetUserMFAPreference(ctx, &cip.SetUserMFAPreferenceInput{
		AccessToken:              aws.String(token),
		SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true, PreferredMfa: true},
	})
}

func TestSuccess(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	token := Token(Claims{Username: "alice"})

	out, err := setMFA(context.Background(), newClient(srv), token)
	if err != nil {
		t.Fatalf("SetUserMFAPreference: %v", err)
	}
	if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); id != "req-000001" {
		t.Errorf("request id = %q, want %q", id, "req-000001")
	}

	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("server got %d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.N != 1 || c.Op != "SetUserMFAPreference" || c.Token != token || c.Attempt != 1 {
		t.Errorf("call = N %d, Op %q, Attempt %d, token matches %v; want 1, SetUserMFAPreference, 1, true",
			c.N, c.Op, c.Attempt, c.Token == token)
	}
	var body map[string]any
	if err := json.Unmarshal(c.Body, &body); err != nil {
		t.Fatalf("recorded body %q: %v", c.Body, err)
	}
	want := map[string]any{
		"AccessToken":              token,
		"SoftwareTokenMfaSettings": map[string]any{"Enabled": true, "PreferredMfa": true},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("recorded body = %v, want %v", body, want)
	}
}

// TestErrors checks that each fault reaches the caller as the SDK reports
// the service's own answer.
func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		reply   Reply
		status  int
		code    string // "" when the answer is no API error
		message string
	}{
		{"throttle", Reply{Fault: Throttle}, 400, "TooManyRequestsException", "Rate exceeded"},
		{"internal", Reply{Fault: Internal}, 500, "InternalErrorException", "Internal server error"},
		{"API error default", Reply{Fault: APIError}, 400, "NotAuthorizedException", "Access Token has expired"},
		{"API error", Reply{Fault: APIError, Code: "InvalidParameterException", Message: "User has not verified software token mfa"},
			400, "InvalidParameterException", "User has not verified software token mfa"},
		{"throttle message", Reply{Fault: Throttle, Message: "Too many requests"}, 400, "TooManyRequestsException", "Too many requests"},
		{"server error", Reply{Fault: ServerError}, 503, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewServer(func(Call) Reply { return tt.reply })
			defer srv.Close()

			_, err := setMFA(context.Background(), newClient(srv), Token(Claims{}))
			var re *awshttp.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is no awshttp.ResponseError", err, err)
			}
			if re.HTTPStatusCode() != tt.status || re.ServiceRequestID() != "req-000001" {
				t.Errorf("HTTP status %d, request id %q; want %d, req-000001", re.HTTPStatusCode(), re.ServiceRequestID(), tt.status)
			}
			var ae smithy.APIError
			switch {
			case tt.code == "" && errors.As(err, &ae):
				t.Errorf("error is API error %s %q, want none (the body is not JSON)", ae.ErrorCode(), ae.ErrorMessage())
			case tt.code == "":
			case !errors.As(err, &ae):
				t.Errorf("error %v is no smithy.APIError", err)
			case ae.ErrorCode() != tt.code || ae.ErrorMessage() != tt.message:
				t.Errorf("API error %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), tt.code, tt.message)
			}
		})
	}
}

// TestThrottleIsGeneric pins a fact the engine's retry classification
// depends on: the SDK's model of SetUserMFAPreference lists no
// TooManyRequestsException, so throttling arrives as a generic API error
// that only its ErrorCode identifies, never as *types.TooManyRequestsException.
func TestThrottleIsGeneric(t *testing.T) {
	srv := NewServer(func(Call) Reply { return Reply{Fault: Throttle} })
	defer srv.Close()
	_, err := setMFA(context.Background(), newClient(srv), Token(Claims{}))
	var tm *types.TooManyRequestsException
	if errors.As(err, &tm) {
		t.Error("throttling decoded as *types.TooManyRequestsException: the SDK model changed; classification by type now works too")
	}
	var ge *smithy.GenericAPIError
	if !errors.As(err, &ge) || ge.ErrorCode() != "TooManyRequestsException" {
		t.Errorf("error %v is no generic TooManyRequestsException", err)
	}
}

func TestReset(t *testing.T) {
	srv := NewServer(func(Call) Reply { return Reply{Fault: Reset} })
	defer srv.Close()
	_, err := setMFA(context.Background(), newClient(srv), Token(Claims{}))
	var se *smithyhttp.RequestSendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is no transport error (smithyhttp.RequestSendError)", err, err)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %v is no connection reset", err)
	}
	// The SDK wraps even a transport error in a ResponseError, with status 0.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		t.Errorf("error carries HTTP status %d, want none", re.HTTPStatusCode())
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("server got %d calls, want 1 (a POST must not be resent by the transport)", n)
	}
}

func TestStallEndsWithClientTimeout(t *testing.T) {
	srv := NewServer(func(Call) Reply { return Reply{Fault: Stall} })
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := setMFA(ctx, newClient(srv), Token(Claims{}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v with a 100ms timeout", d)
	}
}

// TestCloseReleasesStalls checks that Close neither waits for a stalled or
// delayed call nor lets it look like a success.
func TestCloseReleasesStalls(t *testing.T) {
	for name, reply := range map[string]Reply{"stall": {Fault: Stall}, "delay": {Delay: time.Hour}} {
		t.Run(name, func(t *testing.T) {
			srv := NewServer(func(Call) Reply { return reply })
			errc := make(chan error, 1)
			go func() {
				_, err := setMFA(context.Background(), newClient(srv), Token(Claims{}))
				errc <- err
			}()
			for len(srv.Calls()) == 0 {
				time.Sleep(time.Millisecond)
			}

			start := time.Now()
			srv.Close()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Close took %v", d)
			}
			select {
			case err := <-errc:
				if err == nil {
					t.Error("stalled call succeeded when the server closed, want an error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("client still waiting 5s after Close")
			}
		})
	}
}

func TestDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	srv := NewServer(func(Call) Reply { return Reply{Delay: delay} })
	defer srv.Close()
	client := newClient(srv)

	start := time.Now()
	if _, err := setMFA(context.Background(), client, Token(Claims{})); err != nil {
		t.Fatalf("SetUserMFAPreference: %v", err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("call took %v, want at least the %v delay", d, delay)
	}

	// A client that gives up during the delay gets its own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), delay/5)
	defer cancel()
	if _, err := setMFA(ctx, client, Token(Claims{})); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
}

func TestFailAttempts(t *testing.T) {
	srv := NewServer(FailAttempts(2, Throttle))
	defer srv.Close()
	client := newClient(srv)
	a, b := Token(Claims{Username: "a"}), Token(Claims{Username: "b"})

	var got []string
	for _, token := range []string{a, b, a, a, b, b} {
		_, err := setMFA(context.Background(), client, token)
		var ae smithy.APIError
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.As(err, &ae):
			got = append(got, ae.ErrorCode())
		default:
			t.Fatalf("SetUserMFAPreference: %v", err)
		}
	}
	const tm = "TooManyRequestsException"
	if want := []string{tm, tm, tm, "ok", tm, "ok"}; !reflect.DeepEqual(got, want) {
		t.Errorf("answers = %v, want %v", got, want)
	}

	var ns, attempts []int
	for _, c := range srv.Calls() {
		ns = append(ns, c.N)
		attempts = append(attempts, c.Attempt)
	}
	if want := []int{1, 2, 3, 4, 5, 6}; !reflect.DeepEqual(ns, want) {
		t.Errorf("N = %v, want %v", ns, want)
	}
	if want := []int{1, 1, 2, 3, 2, 3}; !reflect.DeepEqual(attempts, want) {
		t.Errorf("Attempt = %v, want %v", attempts, want)
	}
}

// TestProtocolErrors sends requests the service would reject before
// looking at them; the decider must not see them.
func TestProtocolErrors(t *testing.T) {
	good := `{"AccessToken":"x","SMSMfaSettings":{"Enabled":true}}`
	tests := []struct {
		name, method, contentType, target, body string
		code                                    string
	}{
		{"GET", "GET", jsonType, targetPrefix + "SetUserMFAPreference", good, "UnknownOperationException"},
		{"content type", "POST", "application/json", targetPrefix + "SetUserMFAPreference", good, "UnknownOperationException"},
		{"no target", "POST", jsonType, "", good, "UnknownOperationException"},
		{"unknown op", "POST", jsonType, targetPrefix + "AdminDeleteUser", good, "UnknownOperationException"},
		{"other service", "POST", jsonType, "AWSCognitoIdentityService.SetUserMFAPreference", good, "UnknownOperationException"},
		{"malformed JSON", "POST", jsonType, targetPrefix + "SetUserMFAPreference", `{"AccessToken":`, "SerializationException"},
		{"array", "POST", jsonType, targetPrefix + "SetUserMFAPreference", `[]`, "SerializationException"},
		{"no token", "POST", jsonType, targetPrefix + "SetUserMFAPreference", `{"SMSMfaSettings":{}}`, "InvalidParameterException"},
		{"blank token", "POST", jsonType, targetPrefix + "SetUserMFAPreference", `{"AccessToken":""}`, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decided atomic.Bool
			srv := NewServer(func(Call) Reply { decided.Store(true); return Reply{} })
			defer srv.Close()

			req, err := http.NewRequest(tt.method, srv.URL+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readError(t, resp)
			if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != tt.code || body.Type != tt.code {
				t.Errorf("answer = %d, X-Amzn-ErrorType %q, __type %q; want 400 and %s",
					resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body.Type, tt.code)
			}
			if id := resp.Header.Get("X-Amzn-RequestId"); id != "req-000001" {
				t.Errorf("request id = %q, want req-000001", id)
			}
			if decided.Load() {
				t.Error("decider consulted for a request the service rejects")
			}
			if calls := srv.Calls(); len(calls) != 1 || string(calls[0].Body) != tt.body {
				t.Errorf("calls = %d, want 1 recording the body", len(calls))
			}
		})
	}
}

// apiErrorBody is the body of the service's error answer.
type apiErrorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// readError reads and closes an error answer's body.
func readError(t *testing.T, resp *http.Response) apiErrorBody {
	t.Helper()
	defer resp.Body.Close()
	var body apiErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return body
}

func TestSuccessWire(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(`{"AccessToken":"x"}`))
	req.Header.Set("Content-Type", jsonType)
	req.Header.Set("X-Amz-Target", targetPrefix+"SetUserMFAPreference")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "{}" || resp.Header.Get("Content-Type") != jsonType ||
		resp.Header.Get("X-Amzn-ErrorType") != "" {
		t.Errorf("answer = %d %q, Content-Type %q, X-Amzn-ErrorType %q; want 200 {} %s and none",
			resp.StatusCode, body, resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-ErrorType"), jsonType)
	}
}

func TestMaxInWindow(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(offsets ...int) []time.Time {
		var ts []time.Time
		for _, o := range offsets {
			ts = append(ts, base.Add(time.Duration(o)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		times []time.Time
		d     time.Duration
		want  int
	}{
		{nil, time.Second, 0},
		{ms(0), time.Second, 1},
		{ms(0), 0, 0},
		{ms(0, 0, 0), time.Nanosecond, 3},
		// The window is half-open: calls exactly d apart are in different windows.
		{ms(0, 100, 200, 300), 100 * time.Millisecond, 1},
		{ms(0, 100, 200, 300), 101 * time.Millisecond, 2},
		{ms(0, 100, 200, 300), time.Second, 4},
		// A burst in the middle of a steady rate.
		{ms(0, 100, 200, 210, 220, 230, 240, 300, 400), 100 * time.Millisecond, 5},
		{ms(0, 100, 200, 210, 220, 230, 240, 300, 400), 50 * time.Millisecond, 5},
		{ms(0, 100, 200, 210, 220, 230, 240, 300, 400), 35 * time.Millisecond, 4},
		{ms(0, 500, 900, 1000, 1001), time.Second, 4},
	}
	for _, tt := range tests {
		got := maxInWindow(len(tt.times), func(i int) time.Time { return tt.times[i] }, tt.d)
		if got != tt.want {
			t.Errorf("maxInWindow(%v, %v) = %d, want %d", tt.times, tt.d, got, tt.want)
		}
	}
}

// TestConcurrent drives the server from many goroutines: every call is
// recorded once, numbered in arrival order, and counted per token.
func TestConcurrent(t *testing.T) {
	const workers, perWorker = 16, 40
	srv := NewServer(Mix(1, map[Fault]float64{Throttle: 0.2, Internal: 0.1, APIError: 0.05}))
	defer srv.Close()
	client := newClient(srv)
	tokens := make([]string, 8) // shared by workers, so attempts interleave
	for i := range tokens {
		tokens[i] = Token(Claims{})
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				setMFA(context.Background(), client, tokens[(w+i)%len(tokens)])
			}
		})
	}
	wg.Wait()

	calls := srv.Calls()
	if len(calls) != workers*perWorker {
		t.Fatalf("server recorded %d calls, want %d", len(calls), workers*perWorker)
	}
	seen := map[string]int{}
	for i, c := range calls {
		if c.N != i+1 {
			t.Fatalf("call %d has N %d", i+1, c.N)
		}
		if i > 0 && c.At.Before(calls[i-1].At) {
			t.Fatalf("call %d arrived before call %d", c.N, c.N-1)
		}
		seen[c.Token]++
		if c.Attempt != seen[c.Token] {
			t.Fatalf("call %d has Attempt %d, want %d", c.N, c.Attempt, seen[c.Token])
		}
	}
	if got := srv.MaxInWindow(time.Hour); got != len(calls) {
		t.Errorf("MaxInWindow(1h) = %d, want all %d", got, len(calls))
	}
	d := time.Millisecond
	if got, want := srv.MaxInWindow(d), maxInWindow(len(calls), func(i int) time.Time { return calls[i].At }, d); got != want {
		t.Errorf("MaxInWindow(%v) = %d, but the recorded arrivals give %d", d, got, want)
	}
}

func TestMix(t *testing.T) {
	p := map[Fault]float64{Throttle: 0.3, Internal: 0.1, Reset: 0.05}
	decide := Mix(42, p)
	const n = 40000
	counts := map[Fault]int{}
	for i := range n {
		c := Call{Token: "token-" + strconv.Itoa(i%500), Attempt: i/500 + 1}
		r := decide(c)
		counts[r.Fault]++
		if again := decide(c); again != r {
			t.Fatalf("call %+v decided %v, then %v", c, r, again)
		}
	}
	p[None] = 1 - 0.3 - 0.1 - 0.05
	for f, want := range p {
		got := float64(counts[f]) / n
		if math.Abs(got-want) > 0.01 {
			t.Errorf("%v: share %.3f, want %.3f", f, got, want)
		}
	}

	// The seed, not the call order or map order, decides.
	other := Mix(43, p)
	same := Mix(42, map[Fault]float64{Reset: 0.05, Internal: 0.1, Throttle: 0.3})
	differ := 0
	for i := range 1000 {
		c := Call{Token: "token", Attempt: i + 1}
		if decide(c) != same(c) {
			t.Fatalf("two Mix(42) deciders differ on attempt %d", c.Attempt)
		}
		if decide(c) != other(c) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("seeds 42 and 43 decide alike")
	}
}

func TestMixPanics(t *testing.T) {
	for _, p := range []map[Fault]float64{
		{Throttle: 0.7, Internal: 0.4},
		{Throttle: -0.1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Mix(%v) did not panic", p)
				}
			}()
			Mix(1, p)
		}()
	}
}

// decodeToken splits a JWT and decodes its header and payload.
func decodeToken(t *testing.T, token string) (header, claims map[string]any, sig []byte) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("token part %d: %v", i+1, err)
		}
		raw[i] = b
	}
	for i, v := range []*map[string]any{&header, &claims} {
		if err := json.Unmarshal(raw[i], v); err != nil {
			t.Fatalf("token part %d: %v", i+1, err)
		}
	}
	return header, claims, raw[2]
}

func TestTokenDefaults(t *testing.T) {
	before := time.Now()
	header, claims, sig := decodeToken(t, Token(Claims{}))

	if header["alg"] != "RS256" || header["kid"] != "test" {
		t.Errorf("header = %v, want alg RS256, kid test", header)
	}
	if len(sig) != 256 {
		t.Errorf("signature is %d bytes, want 256 (RS256, 2048-bit key)", len(sig))
	}
	want := map[string]any{
		"iss":       "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST",
		"token_use": "access",
		"scope":     "aws.cognito.signin.user.admin",
		"client_id": "testclient0000000000000000",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	for _, k := range []string{"sub", "iss", "client_id", "origin_jti", "event_id", "token_use",
		"scope", "auth_time", "exp", "iat", "jti", "username"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if claims["username"] != claims["sub"] {
		t.Errorf("username %v, want the sub %v", claims["username"], claims["sub"])
	}
	exp := time.Unix(int64(claims["exp"].(float64)), 0)
	if lo, hi := before.Add(time.Hour-time.Second), time.Now().Add(time.Hour+time.Second); exp.Before(lo) || exp.After(hi) {
		t.Errorf("exp = %v, want an hour from now", exp)
	}
	if claims["iat"] != claims["auth_time"] {
		t.Errorf("iat %v != auth_time %v", claims["iat"], claims["auth_time"])
	}
}

func TestTokenClaims(t *testing.T) {
	exp := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	_, claims, _ := decodeToken(t, Token(Claims{
		Sub: "11111111-2222-4333-8444-555555555555", Username: "alice",
		Region: "eu-west-1", PoolID: "eu-west-1_Abc", ClientID: "client", Exp: exp,
	}))
	want := map[string]any{
		"sub":       "11111111-2222-4333-8444-555555555555",
		"username":  "alice",
		"iss":       "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc",
		"client_id": "client",
		"exp":       float64(exp.Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}

	// The pool defaults from the region.
	_, claims, _ = decodeToken(t, Token(Claims{Region: "ap-south-1"}))
	if want := "https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_TEST"; claims["iss"] != want {
		t.Errorf("iss = %v, want %v", claims["iss"], want)
	}

	// An expired token was issued before it expired.
	past := time.Now().Add(-time.Minute)
	_, claims, _ = decodeToken(t, Token(Claims{Exp: past}))
	if iat, e := claims["iat"].(float64), claims["exp"].(float64); iat >= e || e != float64(past.Unix()) {
		t.Errorf("iat %v, exp %v; want iat before exp %v", iat, e, past.Unix())
	}
}

func TestTokenOmit(t *testing.T) {
	for _, tt := range []struct {
		claims Claims
		gone   string
	}{
		{Claims{TokenUse: Omit}, "token_use"},
		{Claims{Scope: Omit}, "scope"},
		{Claims{Sub: Omit}, "sub"},
		{Claims{Username: Omit}, "username"},
		{Claims{Issuer: Omit}, "iss"},
		{Claims{ClientID: Omit}, "client_id"},
	} {
		_, claims, _ := decodeToken(t, Token(tt.claims))
		if v, ok := claims[tt.gone]; ok {
			t.Errorf("Token(%+v) has %s = %v, want it left out", tt.claims, tt.gone, v)
		}
		if len(claims) != 11 {
			t.Errorf("Token(%+v) has %d claims, want the other 11", tt.claims, len(claims))
		}
	}
	_, claims, _ := decodeToken(t, Token(Claims{TokenUse: "id", Scope: "openid email"}))
	if claims["token_use"] != "id" || claims["scope"] != "openid email" {
		t.Errorf("token_use %v, scope %v; want id, openid email", claims["token_use"], claims["scope"])
	}
}

// TestTokenUsers checks that tokens for one user name name one user, as
// duplicate detection by iss and sub needs, yet differ from one another.
func TestTokenUsers(t *testing.T) {
	a1, a2 := Token(Claims{Username: "alice"}), Token(Claims{Username: "alice"})
	if a1 == a2 {
		t.Fatal("two tokens for alice are identical")
	}
	sub := func(tok string) any { _, c, _ := decodeToken(t, tok); return c["sub"] }
	if sub(a1) != sub(a2) {
		t.Errorf("alice's tokens have subs %v and %v, want one", sub(a1), sub(a2))
	}
	if sub(a1) == sub(Token(Claims{Username: "bob"})) {
		t.Error("alice and bob share a sub")
	}
	if sub(a1) == sub(Token(Claims{Username: "alice", PoolID: "us-east-1_Other"})) {
		t.Error("alice has one sub in two pools")
	}
	if sub(Token(Claims{})) == sub(Token(Claims{})) {
		t.Error("two default tokens share a sub")
	}
}

// BenchmarkServer measures a call through the real SDK client, to show the
// server's share of an engine benchmark is small.
func BenchmarkServer(b *testing.B) {
	srv := NewServer(Mix(1, map[Fault]float64{Throttle: 0.1}))
	defer srv.Close()
	client := cip.New(cip.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
		}),
	})
	token := Token(Claims{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			setMFA(context.Background(), client, token)
		}
	})
	b.ReportMetric(float64(len(srv.Calls()))/b.Elapsed().Seconds(), "calls/s")
}

// A Reply's RequestID is the answer's request id, success or error.
func TestReplyRequestID(t *testing.T) {
	for _, f := range []Fault{None, APIError} {
		srv := NewServer(func(Call) Reply { return Reply{Fault: f, RequestID: "echo of anything"} })
		out, err := setMFA(context.Background(), newClient(srv), Token(Claims{}))
		var id string
		if out != nil {
			id, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			id = re.ServiceRequestID()
		}
		if id != "echo of anything" {
			t.Errorf("%v: request id %q, want the reply's", f, id)
		}
		srv.Close()
	}
}

// A TLS server answers over HTTPS with the certificate given, which a
// client trusts through the CA that issued it, and only then.
func TestTLSServer(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Certificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewTLSServer(nil, cert)
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	for _, trusted := range []bool{false, true} {
		client := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			if trusted {
				tr.TLSClientConfig.RootCAs = pool
			}
		})
		c := cip.New(cip.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{}, HTTPClient: client})
		_, err := setMFA(context.Background(), c, Token(Claims{}))
		if trusted != (err == nil) {
			t.Errorf("trusted %v: %v", trusted, err)
		}
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls, want the trusted one", n)
	}
}
