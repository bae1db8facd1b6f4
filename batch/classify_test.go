package batch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// TestClassify checks the one judgement that retries, the pacer and
// halting all read: what may be retried, what is throttling, and what no
// row can get past.
func TestClassify(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "cognito-idp.xx-nowhere-1.amazonaws.com", IsNotFound: true}
	dnsBusy := &net.DNSError{Err: "server misbehaving", Name: "cognito-idp.us-east-1.amazonaws.com", IsTemporary: true}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name                          string
		err                           error
		code                          string
		retry, throttle, noRowCanPass bool
	}{
		{"throttled", sdkFailure(400, "r", genericAPIError("TooManyRequestsException", "Rate exceeded")), "TooManyRequestsException", true, true, false},
		{"throttled, typed", sdkFailure(400, "r", &types.TooManyRequestsException{Message: aws.String("Rate exceeded")}), "TooManyRequestsException", true, true, false},
		{"internal error", sdkFailure(500, "r", genericAPIError("InternalErrorException", "oops")), "InternalErrorException", true, false, false},
		{"expired token", sdkFailure(400, "r", genericAPIError("NotAuthorizedException", "Access Token has expired")), "NotAuthorizedException", false, false, false},
		{"unverified TOTP", sdkFailure(400, "r", genericAPIError("InvalidParameterException", "User has not verified software token mfa")), "InvalidParameterException", false, false, false},
		{"pool not set up for SMS", sdkFailure(400, "r", genericAPIError("InvalidParameterException", "User pool is not configured for SMS")), "InvalidParameterException", false, false, true},
		{"pool gone", sdkFailure(400, "r", genericAPIError("ResourceNotFoundException", "User pool x does not exist.")), "ResourceNotFoundException", false, false, true},
		{"WAF", sdkFailure(403, "r", genericAPIError("ForbiddenException", "Request not allowed due to WAF block.")), "ForbiddenException", false, false, true},
		{"credentials refused", sdkFailure(400, "r", genericAPIError("UnrecognizedClientException", "The security token included in the request is invalid.")), "UnrecognizedClientException", false, false, true},
		{"bad signature", sdkFailure(400, "r", genericAPIError("InvalidSignatureException", "Signature expired")), "InvalidSignatureException", false, false, true},
		{"access denied", sdkFailure(400, "r", genericAPIError("AccessDeniedException", "not authorized to perform")), "AccessDeniedException", false, false, true},
		{"expired credentials", sdkFailure(400, "r", genericAPIError("ExpiredTokenException", "The security token included in the request is expired")), "ExpiredTokenException", false, false, true},
		{"unknown host", sdkSendFailure(dns), CodeConnectionError, false, false, true},
		{"DNS server busy", sdkSendFailure(dnsBusy), CodeConnectionError, true, false, true},
		{"connection refused", sdkSendFailure(refused), CodeConnectionError, true, false, true},
		{"proxy refuses credentials", sdkSendFailure(errors.New("Proxy Authentication Required")), CodeConnectionError, false, false, true},
		{"timeout", sdkSendFailure(context.DeadlineExceeded), CodeTimeout, true, false, true},
		// The Go transport may close a connection under an answer being
		// read (aws-sdk-go-v2#2737): the call may pass on the next try.
		{"answer cut off", sdkFailure(200, "", &smithy.DeserializationError{Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}}), "HTTP200", true, false, false},
		{"answer garbled", sdkFailure(200, "", &smithy.DeserializationError{Err: errors.New("invalid character '<'")}), "HTTP200", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := classify(tc.err)
			if c.Code != tc.code || c.Retry != tc.retry || c.Throttle != tc.throttle || c.NoRowCanPass != tc.noRowCanPass {
				t.Errorf("classify = code %s retry %v throttle %v noRowCanPass %v; want %s %v %v %v",
					c.Code, c.Retry, c.Throttle, c.NoRowCanPass, tc.code, tc.retry, tc.throttle, tc.noRowCanPass)
			}
		})
	}
}

// TestClassifyUntrustedCertificate calls a TLS server whose certificate
// the client does not trust, as the real SDK returns it: never retried,
// and the message says how to trust a private CA.
func TestClassifyUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client, err := NewClient(aws.Config{Region: "us-east-1"}, srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	_, err = client.SetUserMFAPreference(context.Background(), Settings{SMS: Factor{Enabled: True}}.Input(tok))
	c := classify(err)
	if c.Retry || !c.NoRowCanPass || c.Code != CodeConnectionError {
		t.Errorf("classify(%v) = %+v; want a ConnectionError not retried, that no row can pass", err, c)
	}
	want := "the endpoint's TLS certificate is not trusted (x509: certificate signed by unknown authority); for a private CA pass --ca-bundle or set AWS_CA_BUNDLE"
	if c.Message != want {
		t.Errorf("message %q, want %q", c.Message, want)
	}
}
