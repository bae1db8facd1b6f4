package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Client is the one Cognito call the engine makes.
// *cognitoidentityprovider.Client satisfies it.
type Client interface {
	SetUserMFAPreference(ctx context.Context, params *cip.SetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error)
}

// ErrUnsafeEndpoint is returned by NewClient for an endpoint that would
// send tokens in clear text off this machine.
var ErrUnsafeEndpoint = errors.New("unsafe endpoint")

// NewClient makes the Cognito client the engine uses from cfg: the SDK's
// own retries off (the engine retries, and every attempt must pass its
// limiter), enough idle connections for the workers, and request bodies
// that carry every field of a sent block, false included. A non-empty
// endpoint overrides cfg's.
func NewClient(cfg aws.Config, endpoint string, workers int) (*cip.Client, error) {
	client := cip.NewFromConfig(cfg, func(o *cip.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 0
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 2 * workers
			t.MaxIdleConnsPerHost = workers
		})
		o.APIOptions = append(o.APIOptions, addExplicitBody)
	})
	if ep := client.Options().BaseEndpoint; ep != nil {
		if err := CheckEndpoint(*ep); err != nil {
			return nil, err
		}
	}
	return client, nil
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
	b = fmt.Appendf(b, "%t", enabled)
	if preferred != nil {
		b = fmt.Appendf(b, `,"PreferredMfa":%t`, *preferred)
	}
	return append(b, '}')
}

// appendJSONString quotes s as a JSON string. Tokens that get this far are
// base64url and dots, but nothing relies on that.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
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
