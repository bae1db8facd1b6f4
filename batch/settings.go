package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// Bool is a manifest boolean: not set, set false, or set true.
type Bool uint8

// The three states of a Bool. The zero value is Unset.
const (
	Unset Bool = iota
	False
	True
)

// ErrBadBool is returned by ParseBool for a value it cannot read.
var ErrBadBool = errors.New("not a boolean (want true/false, 1/0 or yes/no)")

// ParseBool reads true/false, 1/0 or yes/no in any case; blank is Unset.
func ParseBool(s string) (Bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return Unset, nil
	case "true", "1", "yes":
		return True, nil
	case "false", "0", "no":
		return False, nil
	}
	return Unset, ErrBadBool
}

// value is b within a block that is sent, where blank means false.
func (b Bool) value() bool { return b == True }

// Factor is what a row asks of one MFA method.
type Factor struct {
	Enabled, Preferred Bool
}

// IsSet reports whether any field is set, which is what makes the factor's
// block part of the request.
func (f Factor) IsSet() bool { return f.Enabled != Unset || f.Preferred != Unset }

// Settings is what a row asks for, one Factor per MFA method. WebAuthn has
// no preferred field in the API; its Preferred is always Unset.
type Settings struct {
	SMS, SoftwareToken, Email, WebAuthn Factor
}

// factorNames are the manifest's column prefixes, in the order messages use.
var factorNames = [4]string{"sms", "software_token", "email", "webauthn"}

func (s *Settings) factors() [4]*Factor {
	return [4]*Factor{&s.SMS, &s.SoftwareToken, &s.Email, &s.WebAuthn}
}

// pack is s in 16 bits, two a field, for the duplicate-user index.
func (s Settings) pack() uint16 {
	var v uint16
	for _, f := range s.factors() {
		v = v<<4 | uint16(f.Enabled)<<2 | uint16(f.Preferred)
	}
	return v
}

// WithDefaults takes d's block for every factor s leaves blank. A factor
// the row sets any field of is the row's own, so a row that turns SMS off
// is not made to prefer it by a default.
func (s Settings) WithDefaults(d Settings) Settings {
	out := s
	of, df := out.factors(), d.factors()
	for i := range of {
		if !of[i].IsSet() {
			*of[i] = *df[i]
		}
	}
	return out
}

// Check applies the rules that need no token: something must be set, at
// most one factor preferred, and a preferred factor must be enabled.
func (s Settings) Check() *RowError {
	var preferred []string
	set := false
	for i, f := range s.factors() {
		if !f.IsSet() {
			continue
		}
		set = true
		if f.Preferred == True {
			preferred = append(preferred, factorNames[i])
			if f.Enabled != True {
				return rowErr(CodePreferredNotEnabled, "%s is preferred but not enabled: set %s_enabled to true", factorNames[i], factorNames[i])
			}
		}
	}
	if !set {
		return rowErr(CodeNoSettings, "the row sets no MFA field and no command-line default applies")
	}
	if len(preferred) > 1 {
		return rowErr(CodeMultiplePreferred, "more than one factor is preferred (%s): prefer one at most", strings.Join(preferred, ", "))
	}
	return nil
}

// Input is the API request for s. Only factors with a field set get a
// block, so factors the row leaves blank stay as they are.
func (s Settings) Input(token string) *cip.SetUserMFAPreferenceInput {
	in := &cip.SetUserMFAPreferenceInput{AccessToken: &token}
	if f := s.SMS; f.IsSet() {
		in.SMSMfaSettings = &types.SMSMfaSettingsType{Enabled: f.Enabled.value(), PreferredMfa: f.Preferred.value()}
	}
	if f := s.SoftwareToken; f.IsSet() {
		in.SoftwareTokenMfaSettings = &types.SoftwareTokenMfaSettingsType{Enabled: f.Enabled.value(), PreferredMfa: f.Preferred.value()}
	}
	if f := s.Email; f.IsSet() {
		in.EmailMfaSettings = &types.EmailMfaSettingsType{Enabled: f.Enabled.value(), PreferredMfa: f.Preferred.value()}
	}
	if f := s.WebAuthn; f.IsSet() {
		in.WebAuthnMfaSettings = &types.WebAuthnMfaSettingsType{Enabled: f.Enabled.value()}
	}
	return in
}

// AdminInput is the AdminSetUserMFAPreference input for these settings,
// for username in pool: the same blocks as Input's.
func (s Settings) AdminInput(pool, username string) *cip.AdminSetUserMFAPreferenceInput {
	in := s.Input("")
	return &cip.AdminSetUserMFAPreferenceInput{
		UserPoolId: &pool, Username: &username,
		SMSMfaSettings: in.SMSMfaSettings, SoftwareTokenMfaSettings: in.SoftwareTokenMfaSettings,
		EmailMfaSettings: in.EmailMfaSettings, WebAuthnMfaSettings: in.WebAuthnMfaSettings,
	}
}

// jsonFields reads a flat JSON object of booleans (or strings), refusing
// repeated keys and anything after the object.
func jsonFields(s string) (map[string]string, error) {
	fields := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(s))
	bad := errors.New(`not valid JSON: want an object like {"Enabled":true,"PreferredMfa":false}`)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		k := t.(string)
		for other := range fields {
			if strings.EqualFold(other, k) {
				return nil, fmt.Errorf("key %q is given twice", k)
			}
		}
		v, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		switch v := v.(type) {
		case bool:
			fields[k] = strconv.FormatBool(v)
		case string:
			fields[k] = v
		case nil:
			fields[k] = "null"
		default:
			return nil, fmt.Errorf("%s: want true or false", k)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, bad
	}
	if rest := strings.TrimSpace(s[dec.InputOffset():]); rest != "" {
		return nil, errors.New("not valid JSON: text after the object")
	}
	return fields, nil
}

// ParseFactor reads a command-line settings value in either of the AWS
// CLI's syntaxes: shorthand "Enabled=true,PreferredMfa=false" or JSON
// {"Enabled":true,"PreferredMfa":false}. With passkey set only Enabled is
// allowed, as WebAuthnMfaSettings has no PreferredMfa.
func ParseFactor(s string, passkey bool) (Factor, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Factor{}, errors.New("empty value")
	}
	fields := map[string]string{}
	if strings.HasPrefix(s, "{") {
		var err error
		if fields, err = jsonFields(s); err != nil {
			return Factor{}, err
		}
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return Factor{}, fmt.Errorf("%q is not Key=value", strings.TrimSpace(kv))
			}
			k = strings.TrimSpace(k)
			if _, dup := fields[k]; dup {
				return Factor{}, fmt.Errorf("key %q is given twice", k)
			}
			fields[k] = v
		}
	}
	if len(fields) == 0 {
		return Factor{}, errors.New("sets neither Enabled nor PreferredMfa")
	}
	var f Factor
	seen := map[string]bool{}
	for k, v := range fields {
		if lk := strings.ToLower(k); seen[lk] {
			return Factor{}, fmt.Errorf("key %q is given twice", k)
		} else {
			seen[lk] = true
		}
		var dst *Bool
		switch {
		case strings.EqualFold(k, "Enabled"):
			dst = &f.Enabled
		case strings.EqualFold(k, "PreferredMfa") && !passkey:
			dst = &f.Preferred
		default:
			if passkey {
				return Factor{}, fmt.Errorf("unknown key %q (want Enabled)", k)
			}
			return Factor{}, fmt.Errorf("unknown key %q (want Enabled, PreferredMfa)", k)
		}
		b, err := ParseBool(v)
		if err != nil || b == Unset {
			return Factor{}, fmt.Errorf("%s=%q: %w", k, v, ErrBadBool)
		}
		*dst = b
	}
	return f, nil
}
