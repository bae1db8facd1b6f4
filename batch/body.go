package batch

import (
	"bytes"
	"context"
	"encoding/json"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// addExplicitFalse adds, after the SDK's serializer, a step that sends
// Body in its place. The SDK leaves false booleans out, so a block such as
// {Enabled: false, PreferredMfa: false} goes out as {}: the service reads
// a missing field as false, but emulators (moto) read an empty block as
// "no change". The body says false, as the AWS CLI's does.
func addExplicitFalse(stack *middleware.Stack) error {
	return stack.Serialize.Add(middleware.SerializeMiddlewareFunc("mfabatch.ExplicitFalse", explicitFalse), middleware.After)
}

func explicitFalse(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
	body, ok := explicitBody(in.Parameters)
	req, isHTTP := in.Request.(*smithyhttp.Request)
	if !ok || !isHTTP {
		return next.HandleSerialize(ctx, in)
	}
	r, err := req.SetStream(bytes.NewReader(body))
	if err != nil {
		return middleware.SerializeOutput{}, middleware.Metadata{}, &smithy.SerializationError{Err: err}
	}
	in.Request = r
	return next.HandleSerialize(ctx, in)
}

// explicitBody is the body the tool sends for an operation's input, for
// the operations that take MFA blocks; other inputs keep the SDK's body.
func explicitBody(params any) ([]byte, bool) {
	switch in := params.(type) {
	case *cip.SetUserMFAPreferenceInput:
		if in.AccessToken != nil {
			return Body(*in.AccessToken, in), true
		}
	case *cip.AdminSetUserMFAPreferenceInput:
		if in.UserPoolId != nil && in.Username != nil {
			return AdminBody(in), true
		}
	}
	return nil, false
}

// factorBlock is an SMS, TOTP or email block as sent: both fields always.
type factorBlock struct {
	Enabled      bool
	PreferredMfa bool
}

// passkeyBlock is the WebAuthn block as sent: it has Enabled only.
type passkeyBlock struct {
	Enabled bool
}

// mfaBlocks are the factor blocks the MFA-preference calls take, each
// present only when the input has it, in the SDK's key order.
type mfaBlocks struct {
	EmailMfaSettings         *factorBlock  `json:",omitempty"`
	SMSMfaSettings           *factorBlock  `json:",omitempty"`
	SoftwareTokenMfaSettings *factorBlock  `json:",omitempty"`
	WebAuthnMfaSettings      *passkeyBlock `json:",omitempty"`
}

// blocksOf is the blocks to send for an input's settings.
func blocksOf(email *types.EmailMfaSettingsType, sms *types.SMSMfaSettingsType, totp *types.SoftwareTokenMfaSettingsType, passkey *types.WebAuthnMfaSettingsType) mfaBlocks {
	var b mfaBlocks
	if email != nil {
		b.EmailMfaSettings = &factorBlock{email.Enabled, email.PreferredMfa}
	}
	if sms != nil {
		b.SMSMfaSettings = &factorBlock{sms.Enabled, sms.PreferredMfa}
	}
	if totp != nil {
		b.SoftwareTokenMfaSettings = &factorBlock{totp.Enabled, totp.PreferredMfa}
	}
	if passkey != nil {
		b.WebAuthnMfaSettings = &passkeyBlock{passkey.Enabled}
	}
	return b
}

// setUserMFABody is SetUserMFAPreference's request body.
type setUserMFABody struct {
	AccessToken string
	mfaBlocks
}

// Body is the JSON the tool sends for in, with token as the AccessToken:
// each block that is present carries all its fields, false included, in
// the SDK's key order.
func Body(token string, in *cip.SetUserMFAPreferenceInput) []byte {
	return marshal(setUserMFABody{token, blocksOf(in.EmailMfaSettings, in.SMSMfaSettings, in.SoftwareTokenMfaSettings, in.WebAuthnMfaSettings)})
}

// adminSetUserMFABody is AdminSetUserMFAPreference's request body, its
// keys in the SDK's order.
type adminSetUserMFABody struct {
	EmailMfaSettings         *factorBlock `json:",omitempty"`
	SMSMfaSettings           *factorBlock `json:",omitempty"`
	SoftwareTokenMfaSettings *factorBlock `json:",omitempty"`
	Username                 string
	UserPoolId               string
	WebAuthnMfaSettings      *passkeyBlock `json:",omitempty"`
}

// AdminBody is the JSON the tool sends for in, as Body is for the token
// call. in's pool and username must be set.
func AdminBody(in *cip.AdminSetUserMFAPreferenceInput) []byte {
	b := blocksOf(in.EmailMfaSettings, in.SMSMfaSettings, in.SoftwareTokenMfaSettings, in.WebAuthnMfaSettings)
	return marshal(adminSetUserMFABody{
		EmailMfaSettings: b.EmailMfaSettings, SMSMfaSettings: b.SMSMfaSettings,
		SoftwareTokenMfaSettings: b.SoftwareTokenMfaSettings,
		Username:                 *in.Username, UserPoolId: *in.UserPoolId,
		WebAuthnMfaSettings: b.WebAuthnMfaSettings,
	})
}

// marshal is v as compact JSON, with no trailing newline and <, > and &
// as they are: the report shows the request, "<redacted:...>" included.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // cannot fail: strings, bools and pointers to them
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
