package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrUnsafeEndpoint is returned by NewClient for an endpoint that would
// send tokens in clear text off this machine.
var ErrUnsafeEndpoint = errors.New("unsafe endpoint")

// NewClient makes the Cognito client the engine uses from cfg, over cfg's
// HTTP client when it is the SDK's (with its CA bundle and proxy): the SDK's
// own retries off (the engine retries, and every attempt must pass its
// limiter), enough idle connections for the workers, and request bodies
// that carry every field of a sent block, false included. A call costs
// one write and no general JSON decoding of the empty answer. A non-empty
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
		o.HTTPClient = inMemoryBody{base.WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * workers
			t.MaxIdleConnsPerHost = workers
		}).WithTransportOptions(transport...)}
		o.APIOptions = append(o.APIOptions, addExplicitBody, addEmptyOutput, removeRetryLoop)
	})
	if ep := client.Options().BaseEndpoint; ep != nil {
		if err := CheckEndpoint(*ep); err != nil {
			return nil, err
		}
	}
	return client, nil
}

// inMemoryBody hands net/http each request's body as a bytes.Reader. The
// SDK wraps bodies in a reader net/http does not know, and for such a
// body net/http writes the headers and the body separately, in case the
// body is slow to come: a system call more per call, a tenth of the
// tool's CPU. The body is in memory anyway, a token and a few fields.
type inMemoryBody struct{ next cip.HTTPClient }

// maxBody bounds the bodies inMemoryBody reads; larger ones pass as they are.
const maxBody = 64 << 10

func (c inMemoryBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > maxBody {
		return c.next.Do(req)
	}
	b := make([]byte, req.ContentLength)
	_, err := io.ReadFull(req.Body, b)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	// With GetBody, net/http may resend a request that it could not write
	// at all, as on a kept-alive connection the server had just closed.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return c.next.Do(req)
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
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %q sends access tokens unencrypted; plain http is allowed only to localhost or a loopback address", ErrUnsafeEndpoint, endpoint)
	}
	return fmt.Errorf("%w: %q: the scheme must be https (or http for a loopback host)", ErrUnsafeEndpoint, endpoint)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// removeRetryLoop takes the SDK's retry loop out of the stack. The engine
// retries, through its limiter, so the SDK's loop runs once a call, yet
// it clones the request and records attempt metrics each time: a sixth
// of the SDK's cost per call. Its clock-skew correction is for signed
// requests, and SetUserMFAPreference is authorised by the token instead.
func removeRetryLoop(stack *middleware.Stack) error {
	for _, id := range []string{"Retry", "RetryMetricsHeader"} {
		if _, err := stack.Finalize.Remove(id); err != nil {
			return err
		}
	}
	return nil
}

// addExplicitBody puts explicitSerializer in the place of the SDK's
// serializer, which leaves out false booleans: the service reads a missing
// field as false but emulators read an empty block as "no change", so the
// body says false as the AWS CLI does.
func addExplicitBody(stack *middleware.Stack) error {
	es := &explicitSerializer{}
	orig, err := stack.Serialize.Swap("OperationSerializer", es)
	es.orig = orig
	return err
}

// addEmptyOutput puts emptyOutput in the place of the SDK's deserializer.
func addEmptyOutput(stack *middleware.Stack) error {
	eo := &emptyOutput{}
	orig, err := stack.Deserialize.Swap("OperationDeserializer", eo)
	eo.orig = orig
	return err
}

// emptyOutput reads SetUserMFAPreference's answer of success, an empty
// JSON object, without the SDK's general decoding into a map, about a
// fifth of the allocations of a call. Errors, other operations and any
// other body go to the SDK's own deserializer.
type emptyOutput struct {
	orig middleware.DeserializeMiddleware
}

func (*emptyOutput) ID() string { return "OperationDeserializer" }

// maxEmptyBody is how much of a success body emptyOutput reads looking
// for the empty object; a longer one goes to the SDK.
const maxEmptyBody = 64

func (eo *emptyOutput) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if ok && middleware.GetOperationName(ctx) == "SetUserMFAPreference" && resp.StatusCode >= 200 && resp.StatusCode < 300 && resp.Body != nil {
		var buf [maxEmptyBody]byte
		n, rerr := io.ReadFull(resp.Body, buf[:])
		if (rerr == io.EOF || rerr == io.ErrUnexpectedEOF) && string(bytes.TrimSpace(buf[:n])) == "{}" {
			out.Result = &cip.SetUserMFAPreferenceOutput{}
			return out, md, nil
		}
		// Not the empty object: the SDK reads it all, from the start.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf[:n]), resp.Body), resp.Body}
	}
	return eo.orig.HandleDeserialize(ctx, in, replay{out, md})
}

// replay is a handler that gives the answer already received.
type replay struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
}

func (a replay) HandleDeserialize(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return a.out, a.md, nil
}

// explicitSerializer writes a SetUserMFAPreference request as the AWS
// JSON 1.1 protocol has it, with Body; other operations go to the SDK's
// own serializer.
type explicitSerializer struct {
	orig middleware.SerializeMiddleware
}

func (*explicitSerializer) ID() string { return "OperationSerializer" }

func (es *explicitSerializer) HandleSerialize(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
	params, ok := in.Parameters.(*cip.SetUserMFAPreferenceInput)
	req, isHTTP := in.Request.(*smithyhttp.Request)
	if !ok || !isHTTP || params.AccessToken == nil {
		return es.orig.HandleSerialize(ctx, in, next)
	}
	if req.URL.Path == "" {
		req.URL.Path = "/"
	} else if !strings.HasSuffix(req.URL.Path, "/") {
		req.URL.Path += "/"
	}
	req.Method = http.MethodPost
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.SetUserMFAPreference")
	r, err := req.SetStream(bytes.NewReader(Body(*params.AccessToken, params)))
	if err != nil {
		return middleware.SerializeOutput{}, middleware.Metadata{}, &smithy.SerializationError{Err: err}
	}
	in.Request = r
	return next.HandleSerialize(ctx, in)
}

// Body is the JSON the tool sends for in, with token as the AccessToken:
// each block that is present carries all its fields, false included, in
// the SDK's key order.
func Body(token string, in *cip.SetUserMFAPreferenceInput) []byte {
	b := make([]byte, 0, len(token)+256)
	b = append(b, `{"AccessToken":`...)
	b = appendJSONString(b, token)
	if f := in.EmailMfaSettings; f != nil {
		b = appendBlock(b, "EmailMfaSettings", f.Enabled, &f.PreferredMfa)
	}
	if f := in.SMSMfaSettings; f != nil {
		b = appendBlock(b, "SMSMfaSettings", f.Enabled, &f.PreferredMfa)
	}
	if f := in.SoftwareTokenMfaSettings; f != nil {
		b = appendBlock(b, "SoftwareTokenMfaSettings", f.Enabled, &f.PreferredMfa)
	}
	if f := in.WebAuthnMfaSettings; f != nil {
		b = appendBlock(b, "WebAuthnMfaSettings", f.Enabled, nil)
	}
	return append(b, '}')
}

func appendBlock(b []byte, name string, enabled bool, preferred *bool) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":{"Enabled":`...)
	b = strconv.AppendBool(b, enabled)
	if preferred != nil {
		b = append(b, `,"PreferredMfa":`...)
		b = strconv.AppendBool(b, *preferred)
	}
	return append(b, '}')
}

// jsonEscape marks the bytes appendJSONString escapes.
var jsonEscape = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// appendJSONString quotes s as a JSON string. Tokens that get this far are
// base64url and dots, but nothing relies on that.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	// Tokens have nothing to escape: the leading run goes in one copy.
	i := 0
	for i < len(s) && !jsonEscape[s[i]] {
		i++
	}
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
