package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// ErrUnsafeEndpoint is returned by NewClient for an endpoint that would
// send tokens in clear text off this machine.
var ErrUnsafeEndpoint = errors.New("unsafe endpoint")

// NewClient makes the Cognito client the engine uses from cfg, over cfg's
// HTTP client when it is the SDK's (with its CA bundle and proxy): the SDK's
// own retries off (the engine retries, and every attempt must pass its
// limiter), enough idle connections for the workers, and request bodies
// that carry every field of a sent block, false included. A non-empty
// endpoint overrides cfg's.
func NewClient(cfg aws.Config, endpoint string, workers int) (*cip.Client, error) {
	return newClient(cfg, endpoint, workers)
}

// newClient is NewClient with more options for the transport, for tests.
func newClient(cfg aws.Config, endpoint string, workers int, transport ...func(*http.Transport)) (*cip.Client, error) {
	// The loaded client trusts AWS_CA_BUNDLE's or the profile's ca_bundle
	// certificates, which a client built afresh would drop.
	base, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok || base == nil {
		base = awshttp.NewBuildableClient()
	}
	client := cip.NewFromConfig(cfg, func(o *cip.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 0
		o.HTTPClient = WholeBodies{base.WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * workers
			t.MaxIdleConnsPerHost = workers
		}).WithTransportOptions(transport...)}
		o.APIOptions = append(o.APIOptions, addExplicitFalse)
	})
	if ep := client.Options().BaseEndpoint; ep != nil {
		if err := CheckEndpoint(*ep); err != nil {
			return nil, err
		}
	}
	return client, nil
}

// WholeBodies sends each request with its body read into memory first.
// The SDK closes a request's body as soon as the answer's headers are in,
// while Go's transport may still be reading it for bytes past
// Content-Length; the transport then closes the connection under the
// answer's body, which fails with "use of closed network connection"
// (aws-sdk-go-v2#2737). A body no one else closes ends that race, for
// Cognito's small JSON bodies at the cost of one copy.
type WholeBodies struct {
	Client interface {
		Do(*http.Request) (*http.Response, error)
	}
}

// Do sends req with its body in memory.
func (c WholeBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	return c.Client.Do(req)
}

// CheckEndpoint accepts https URLs, and plain http only to a loopback
// host: an access token is a bearer secret.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %q is not a URL like https://host or http://127.0.0.1:PORT", ErrUnsafeEndpoint, endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if Loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %q sends access tokens unencrypted; plain http is allowed only to localhost or a loopback address", ErrUnsafeEndpoint, endpoint)
	}
	return fmt.Errorf("%w: %q: the scheme must be https (or http for a loopback host)", ErrUnsafeEndpoint, endpoint)
}

// Loopback reports whether host is localhost or a loopback address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
