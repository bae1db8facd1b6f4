package batch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Class is what a failed call says: what the report shows, and what the
// run does next. classify is the one place that decides it; retries, the
// pacer and halting all read it, as rclone's fserrors serves its pacer.
type Class struct {
	Code       string // the report's error_code: the service's exception, or the tool's own
	Message    string // in words a person can act on; untrusted when from the server
	HTTPStatus int    // 0 when no answer came
	RequestID  string // the service's request id, when it answered

	Retry    bool // the same call may pass later: throttling, 5xx, a fault of the network
	Throttle bool // the service refused for rate: the pacer slows down
	// NoRowCanPass marks errors of the account, pool, endpoint or network,
	// not of one user: when the first calls all fail alike with one, every
	// other row would too, and the run halts.
	NoRowCanPass bool
	// Credentials marks the AWS credentials refused, expired or without
	// permission: an admin run halts at the first.
	Credentials bool
}

// noRowCanPass are the service's error codes that no user's row can get
// past: the pool is gone, a firewall blocks the account, or the
// credentials are refused.
var noRowCanPass = map[string]bool{
	"ResourceNotFoundException":           true,
	"ForbiddenException":                  true,
	"AccessDeniedException":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"ExpiredTokenException":               true,
	"IncompleteSignature":                 true,
	"MissingAuthenticationTokenException": true,
}

// credentialCodes are the errors of a signed call whose credentials are
// refused, expired or not allowed the call.
var credentialCodes = map[string]bool{
	"AccessDeniedException":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"ExpiredTokenException":               true,
	"IncompleteSignature":                 true,
	"MissingAuthenticationTokenException": true,
}

// aboutCredentials reports whether a NotAuthorizedException is about the
// caller's AWS credentials, not a user's token or state.
func aboutCredentials(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"credential", "security token", "signature", "not authorized to perform"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// classify judges a failed call. An API error is judged by its code, not
// its Go type: the service model does not list TooManyRequestsException
// for this call, so a typed check would miss it.
func classify(err error) Class {
	var c Class
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		c.HTTPStatus, c.RequestID = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	var api smithy.APIError
	switch {
	case errors.As(err, &api):
		c.Code, c.Message = api.ErrorCode(), api.ErrorMessage()
		if c.Message == "" {
			c.Message = api.Error()
		}
		if c.HTTPStatus != 0 && (c.Code == "" || c.Code == "UnknownError") {
			c.Code = fmt.Sprintf("HTTP%d", c.HTTPStatus)
		}
		c.Throttle = c.Code == "TooManyRequestsException"
		c.Retry = c.Throttle || c.Code == "InternalErrorException" || c.HTTPStatus >= 500
		c.Credentials = credentialCodes[c.Code] || c.Code == "NotAuthorizedException" && aboutCredentials(c.Message)
		c.NoRowCanPass = noRowCanPass[c.Code] || c.Credentials || poolMisconfigured(c.Code, c.Message)
	case c.HTTPStatus != 0:
		c.Code, c.Message = fmt.Sprintf("HTTP%d", c.HTTPStatus), err.Error()
		// The Go transport may close a connection under an answer being
		// read (aws-sdk-go-v2#2737, which the SDK's own retryer retries).
		c.Retry = c.HTTPStatus >= 500 || errors.Is(err, net.ErrClosed)
	default:
		c = transportClass(err)
	}
	return c
}

// poolMisconfigured reports an InvalidParameterException about the pool's
// set-up, which every row would get, unlike one about the user.
func poolMisconfigured(code, msg string) bool {
	m := strings.ToLower(msg)
	return code == "InvalidParameterException" && (strings.Contains(m, "pool") || strings.Contains(m, "configur"))
}

// transportClass judges a call that got no answer. A certificate the tool
// does not trust, a host that does not exist or a proxy that refuses its
// credentials stays so on the next try; a reset, a refused or cut
// connection and a timeout may pass. Every one of them, on every call
// from the start, means no row can pass. Messages name the fault without
// local ports, so that the same fault reads the same on every call.
func transportClass(err error) Class {
	c := Class{Code: CodeConnectionError, NoRowCanPass: true}
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var invalidCert x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		c.Code, c.Message, c.Retry = CodeTimeout, "no answer within --timeout", true
	case errors.As(err, &unknownCA), errors.As(err, &invalidCert), errors.As(err, &hostname), errors.As(err, &verify):
		c.Message = "the endpoint's TLS certificate is not trusted (" + certProblem(err) + "); for a private CA pass --ca-bundle or set AWS_CA_BUNDLE"
	case errors.As(err, &dns) && dns.IsNotFound:
		c.Message = "no such host " + dns.Name + ": check --endpoint-url and the region"
	case strings.Contains(err.Error(), "Proxy Authentication Required"):
		c.Message = "the proxy refused its credentials (407 Proxy Authentication Required): check HTTPS_PROXY"
	case errors.Is(err, syscall.ECONNREFUSED):
		c.Message, c.Retry = "connection refused"+by(err), true
	case errors.Is(err, syscall.ECONNRESET):
		c.Message, c.Retry = "connection reset"+by(err), true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		c.Message, c.Retry = "the connection closed before an answer came", true
	default:
		// Any other fault of the network or the transport: worth another
		// try, and named in its own words.
		var send *smithyhttp.RequestSendError
		var netErr net.Error
		c.Message, c.Retry = err.Error(), errors.As(err, &send) || errors.As(err, &netErr)
	}
	return c
}

// by names the host of a network fault, when known.
func by(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return " by " + u.Host
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return " by " + op.Addr.String()
	}
	return ""
}

// certProblem is the certificate error's own words, without the chain of
// wrappers around it.
func certProblem(err error) string {
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) && verify.Err != nil {
		return verify.Err.Error()
	}
	msg := err.Error()
	if i := strings.Index(msg, "x509: "); i >= 0 {
		return msg[i:]
	}
	return msg
}

// shouldRetry reports whether a failed call is worth another attempt.
// ctx is the run's context: once it is done nothing is retried.
func shouldRetry(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && classify(err).Retry
}

// Backoff is the wait before retry number n (1 for the first retry):
// exponential from base, capped at max, with full jitter. rnd returns a
// number in [0, 1).
func Backoff(n int, base, max time.Duration, rnd func() float64) time.Duration {
	if n < 1 || base <= 0 {
		return 0
	}
	ceil := max
	if n <= 62 && base <= max>>(n-1) {
		ceil = base << (n - 1)
	}
	return time.Duration(rnd() * float64(ceil))
}

func jitter() float64 { return rand.Float64() }
