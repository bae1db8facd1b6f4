package batch

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Client is the Cognito calls the engine makes, with the SDK's
// signatures: *cognitoidentityprovider.Client satisfies it.
type Client interface {
	SetUserMFAPreference(ctx context.Context, params *cip.SetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error)
	AdminSetUserMFAPreference(ctx context.Context, params *cip.AdminSetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error)
	GetUser(ctx context.Context, params *cip.GetUserInput, optFns ...func(*cip.Options)) (*cip.GetUserOutput, error)
	AdminGetUser(ctx context.Context, params *cip.AdminGetUserInput, optFns ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)
}

// A call sends a row's request once and returns the answer's metadata.
type call func(ctx context.Context, c Client) (middleware.Metadata, error)

// An operation makes a row's call for its target with its settings, and
// gives the request as the report shows it, the secret redacted. Each
// Cognito call the tool makes is one operation.
type operation func(t target, s Settings) (call, string)

// setPreference is SetUserMFAPreference, authorised by the access token.
func setPreference(t target, s Settings) (call, string) {
	in := s.Input(t.secret)
	region := func(o *cip.Options) { o.Region = t.region }
	send := func(ctx context.Context, c Client) (middleware.Metadata, error) {
		out, err := c.SetUserMFAPreference(ctx, in, region)
		if err != nil {
			return middleware.Metadata{}, err
		}
		return out.ResultMetadata, nil
	}
	return send, string(Body(redacted(t.fingerprint), in))
}

// adminSetPreference is AdminSetUserMFAPreference, signed with the run's
// AWS credentials. The request as shown holds no secret.
func adminSetPreference(t target, s Settings) (call, string) {
	in := s.AdminInput(t.pool, t.username)
	region := func(o *cip.Options) { o.Region = t.region }
	send := func(ctx context.Context, c Client) (middleware.Metadata, error) {
		out, err := c.AdminSetUserMFAPreference(ctx, in, region)
		if err != nil {
			return middleware.Metadata{}, err
		}
		return out.ResultMetadata, nil
	}
	return send, string(AdminBody(in))
}

// answered reads the HTTP status and request id of a successful call; a
// request id that is no request id, or quotes secret, is withheld.
func answered(md middleware.Metadata, secret string) (status int, requestID string) {
	requestID, _ = awsmiddleware.GetRequestIDMetadata(md)
	if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		status = resp.StatusCode
	}
	return status, showRequestID(requestID, secret)
}

func redacted(fingerprint string) string { return "<redacted:" + fingerprint + ">" }
