package batch_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/mfabatch/mfabatch/batch"
)

// badBoolMsg is ErrBadBool's text, which users see in InvalidBoolean rows
// and in flag errors.
const badBoolMsg = "not a boolean (want true/false, 1/0 or yes/no)"

func TestParseBool(t *testing.T) {
	tests := []struct {
		in      string
		want    batch.Bool
		wantErr bool
	}{
		{in: "true", want: batch.True},
		{in: "TRUE", want: batch.True},
		{in: "True", want: batch.True},
		{in: "1", want: batch.True},
		{in: "yes", want: batch.True},
		{in: "YeS", want: batch.True},
		{in: "  yes  ", want: batch.True},
		{in: "\ttrue\r\n", want: batch.True},
		{in: "false", want: batch.False},
		{in: "FALSE", want: batch.False},
		{in: "0", want: batch.False},
		{in: "no", want: batch.False},
		{in: " No ", want: batch.False},
		{in: "", want: batch.Unset},
		{in: "   ", want: batch.Unset},
		{in: "\t", want: batch.Unset},
		{in: "maybe", wantErr: true},
		{in: "2", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "y", wantErr: true},
		{in: "n", wantErr: true},
		{in: "t", wantErr: true},
		{in: "on", wantErr: true},
		{in: "truee", wantErr: true},
		{in: "yes please", wantErr: true},
		{in: "null", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, err := batch.ParseBool(tc.in)
			if tc.wantErr {
				if !errors.Is(err, batch.ErrBadBool) {
					t.Fatalf("ParseBool(%q) error = %v, want ErrBadBool", tc.in, err)
				}
				if err.Error() != badBoolMsg {
					t.Errorf("ParseBool(%q) error text = %q, want %q", tc.in, err, badBoolMsg)
				}
				if got != batch.Unset {
					t.Errorf("ParseBool(%q) = %v with an error, want Unset", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBool(%q) error = %v, want nil", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseBool(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseFactor(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		passkey bool
		want    batch.Factor
		// wantErr is the exact error text; wantErrPrefix, when set, a prefix
		// of it (for texts that quote Go's JSON decoder).
		wantErr       string
		wantErrPrefix string
		wantBadBool   bool
	}{
		{
			name: "shorthand both fields",
			in:   "Enabled=true,PreferredMfa=false",
			want: batch.Factor{Enabled: batch.True, Preferred: batch.False},
		},
		{
			name: "shorthand with spaces and any case values",
			in:   "  Enabled = YES , PreferredMfa = 0 ",
			want: batch.Factor{Enabled: batch.True, Preferred: batch.False},
		},
		{
			name: "shorthand Enabled only leaves PreferredMfa unset",
			in:   "Enabled=false",
			want: batch.Factor{Enabled: batch.False},
		},
		{
			name: "shorthand PreferredMfa only leaves Enabled unset",
			in:   "PreferredMfa=true",
			want: batch.Factor{Preferred: batch.True},
		},
		{
			name: "JSON both fields",
			in:   `{"Enabled":true,"PreferredMfa":false}`,
			want: batch.Factor{Enabled: batch.True, Preferred: batch.False},
		},
		{
			name: "JSON with whitespace",
			in:   "\n{ \"Enabled\" : false ,\n  \"PreferredMfa\" : false }\n",
			want: batch.Factor{Enabled: batch.False, Preferred: batch.False},
		},
		{
			name: "JSON string booleans",
			in:   `{"Enabled":"true","PreferredMfa":"no"}`,
			want: batch.Factor{Enabled: batch.True, Preferred: batch.False},
		},
		{
			name:    "passkey shorthand Enabled",
			in:      "Enabled=true",
			passkey: true,
			want:    batch.Factor{Enabled: batch.True},
		},
		{
			name:    "passkey JSON Enabled",
			in:      `{"Enabled":false}`,
			passkey: true,
			want:    batch.Factor{Enabled: batch.False},
		},
		{
			name:    "passkey refuses PreferredMfa in shorthand",
			in:      "Enabled=true,PreferredMfa=false",
			passkey: true,
			wantErr: `unknown key "PreferredMfa" (want Enabled)`,
		},
		{
			name:    "passkey refuses PreferredMfa in JSON",
			in:      `{"Enabled":true,"PreferredMfa":true}`,
			passkey: true,
			wantErr: `unknown key "PreferredMfa" (want Enabled)`,
		},
		{
			name:    "unknown shorthand key",
			in:      "Enabled=true,Preferred=true",
			wantErr: `unknown key "Preferred" (want Enabled, PreferredMfa)`,
		},
		{
			name:    "unknown JSON key",
			in:      `{"Enabled":true,"Prefered":true}`,
			wantErr: `unknown key "Prefered" (want Enabled, PreferredMfa)`,
		},
		{
			name:        "bad shorthand value",
			in:          "Enabled=maybe",
			wantErr:     `Enabled="maybe": ` + badBoolMsg,
			wantBadBool: true,
		},
		{
			name:        "blank shorthand value",
			in:          "Enabled=",
			wantErr:     `Enabled="": ` + badBoolMsg,
			wantBadBool: true,
		},
		{
			name:        "bad JSON value",
			in:          `{"Enabled":"perhaps"}`,
			wantErr:     `Enabled="perhaps": ` + badBoolMsg,
			wantBadBool: true,
		},
		{
			name:        "JSON null value",
			in:          `{"Enabled":null}`,
			wantErr:     `Enabled="null": ` + badBoolMsg,
			wantBadBool: true,
		},
		{
			name:    "shorthand without equals sign",
			in:      "Enabled",
			wantErr: `"Enabled" is not Key=value`,
		},
		{
			name:    "shorthand with a trailing comma",
			in:      "Enabled=true,",
			wantErr: `"" is not Key=value`,
		},
		{
			name:          "JSON cut short",
			in:            `{"Enabled":true`,
			wantErrPrefix: "not valid JSON: ",
		},
		{
			name:    "JSON with text after the object",
			in:      `{"Enabled":true} extra`,
			wantErr: "not valid JSON: text after the object",
		},
		{
			name:    "empty",
			in:      "",
			wantErr: "empty value",
		},
		{
			name:    "only spaces",
			in:      "   ",
			wantErr: "empty value",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batch.ParseFactor(tc.in, tc.passkey)
			if tc.wantErr == "" && tc.wantErrPrefix == "" {
				if err != nil {
					t.Fatalf("ParseFactor(%q, %v) error = %v, want nil", tc.in, tc.passkey, err)
				}
				if got != tc.want {
					t.Errorf("ParseFactor(%q, %v) = %+v, want %+v", tc.in, tc.passkey, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseFactor(%q, %v) = %+v, want an error", tc.in, tc.passkey, got)
			}
			if tc.wantErr != "" && err.Error() != tc.wantErr {
				t.Errorf("ParseFactor(%q, %v) error = %q, want %q", tc.in, tc.passkey, err, tc.wantErr)
			}
			if tc.wantErrPrefix != "" && !strings.HasPrefix(err.Error(), tc.wantErrPrefix) {
				t.Errorf("ParseFactor(%q, %v) error = %q, want it to start with %q", tc.in, tc.passkey, err, tc.wantErrPrefix)
			}
			if tc.wantBadBool != errors.Is(err, batch.ErrBadBool) {
				t.Errorf("errors.Is(%v, ErrBadBool) = %v, want %v", err, !tc.wantBadBool, tc.wantBadBool)
			}
			if got != (batch.Factor{}) {
				t.Errorf("ParseFactor(%q, %v) returned %+v with its error, want the zero Factor", tc.in, tc.passkey, got)
			}
		})
	}
}

func TestSettingsWithDefaults(t *testing.T) {
	on := batch.Factor{Enabled: batch.True, Preferred: batch.True}
	off := batch.Factor{Enabled: batch.False, Preferred: batch.False}
	tests := []struct {
		name     string
		row      batch.Settings
		defaults batch.Settings
		want     batch.Settings
	}{
		{
			name: "no defaults leave the row as it is",
			row:  batch.Settings{SMS: on, WebAuthn: batch.Factor{Enabled: batch.False}},
			want: batch.Settings{SMS: on, WebAuthn: batch.Factor{Enabled: batch.False}},
		},
		{
			name:     "a blank row takes every default",
			defaults: batch.Settings{SoftwareToken: on, Email: off, WebAuthn: batch.Factor{Enabled: batch.True}},
			want:     batch.Settings{SoftwareToken: on, Email: off, WebAuthn: batch.Factor{Enabled: batch.True}},
		},
		{
			name:     "the row's false wins over a default true",
			row:      batch.Settings{SMS: off},
			defaults: batch.Settings{SMS: on},
			want:     batch.Settings{SMS: off},
		},
		{
			name:     "the row's true wins over a default false",
			row:      batch.Settings{Email: on},
			defaults: batch.Settings{Email: off},
			want:     batch.Settings{Email: on},
		},
		{
			name:     "per block: a factor the row sets any field of is the row's alone",
			row:      batch.Settings{SMS: batch.Factor{Enabled: batch.False}},
			defaults: batch.Settings{SMS: batch.Factor{Enabled: batch.True, Preferred: batch.True}},
			want:     batch.Settings{SMS: batch.Factor{Enabled: batch.False}},
		},
		{
			name:     "defaults fill factors the row leaves blank and leave the others",
			row:      batch.Settings{SMS: off},
			defaults: batch.Settings{SMS: on, SoftwareToken: on},
			want:     batch.Settings{SMS: off, SoftwareToken: on},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.row.WithDefaults(tc.defaults)
			if got != tc.want {
				t.Errorf("WithDefaults:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestSettingsCheck(t *testing.T) {
	on := batch.Factor{Enabled: batch.True, Preferred: batch.True}
	enabled := batch.Factor{Enabled: batch.True}
	tests := []struct {
		name     string
		s        batch.Settings
		wantCode string // "" when the settings are valid
		wantMsg  string
	}{
		{
			name:     "nothing set",
			wantCode: batch.CodeNoSettings,
			wantMsg:  "the row sets no MFA field and no command-line default applies",
		},
		{
			name: "one factor enabled and preferred",
			s:    batch.Settings{SMS: on},
		},
		{
			name: "disabling a factor is a setting",
			s:    batch.Settings{Email: batch.Factor{Enabled: batch.False}},
		},
		{
			name: "unpreferring with enabled blank is a setting",
			s:    batch.Settings{SMS: batch.Factor{Preferred: batch.False}},
		},
		{
			name: "passkey enabled alone",
			s:    batch.Settings{WebAuthn: enabled},
		},
		{
			name: "one preferred, others enabled",
			s:    batch.Settings{SMS: enabled, SoftwareToken: on, Email: enabled, WebAuthn: enabled},
		},
		{
			name:     "two factors preferred",
			s:        batch.Settings{SMS: on, Email: on},
			wantCode: batch.CodeMultiplePreferred,
			wantMsg:  "more than one factor is preferred (sms, email): prefer one at most",
		},
		{
			name:     "three factors preferred",
			s:        batch.Settings{SMS: on, SoftwareToken: on, Email: on},
			wantCode: batch.CodeMultiplePreferred,
			wantMsg:  "more than one factor is preferred (sms, software_token, email): prefer one at most",
		},
		{
			name:     "preferred but disabled",
			s:        batch.Settings{SMS: batch.Factor{Enabled: batch.False, Preferred: batch.True}},
			wantCode: batch.CodePreferredNotEnabled,
			wantMsg:  "sms is preferred but not enabled: set sms_enabled to true",
		},
		{
			name:     "preferred with enabled blank",
			s:        batch.Settings{SoftwareToken: batch.Factor{Preferred: batch.True}},
			wantCode: batch.CodePreferredNotEnabled,
			wantMsg:  "software_token is preferred but not enabled: set software_token_enabled to true",
		},
		{
			name:     "email preferred with enabled blank while sms is fine",
			s:        batch.Settings{SMS: enabled, Email: batch.Factor{Preferred: batch.True}},
			wantCode: batch.CodePreferredNotEnabled,
			wantMsg:  "email is preferred but not enabled: set email_enabled to true",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Check()
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want %s", tc.wantCode)
			}
			if err.Code != tc.wantCode || err.Message != tc.wantMsg {
				t.Errorf("Check() = %s / %q\nwant       %s / %q", err.Code, err.Message, tc.wantCode, tc.wantMsg)
			}
			if want := tc.wantCode + ": " + tc.wantMsg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestSettingsInput(t *testing.T) {
	const tok = "tok"
	tests := []struct {
		name string
		s    batch.Settings
		want *cip.SetUserMFAPreferenceInput
	}{
		{
			name: "nothing set sends no block",
			want: &cip.SetUserMFAPreferenceInput{AccessToken: aws.String(tok)},
		},
		{
			name: "a sent block carries false explicitly",
			s:    batch.Settings{SMS: batch.Factor{Enabled: batch.False, Preferred: batch.False}},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:    aws.String(tok),
				SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: false, PreferredMfa: false},
			},
		},
		{
			name: "a field left blank in a sent block is false",
			s:    batch.Settings{SoftwareToken: batch.Factor{Enabled: batch.True}},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:              aws.String(tok),
				SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true, PreferredMfa: false},
			},
		},
		{
			name: "preferred alone sends the block with enabled false",
			s:    batch.Settings{Email: batch.Factor{Preferred: batch.False}},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:      aws.String(tok),
				EmailMfaSettings: &types.EmailMfaSettingsType{Enabled: false, PreferredMfa: false},
			},
		},
		{
			name: "factors left blank get no block",
			s:    batch.Settings{Email: batch.Factor{Enabled: batch.True, Preferred: batch.True}},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:      aws.String(tok),
				EmailMfaSettings: &types.EmailMfaSettingsType{Enabled: true, PreferredMfa: true},
			},
		},
		{
			name: "passkey block has Enabled only",
			s:    batch.Settings{WebAuthn: batch.Factor{Enabled: batch.False}},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:         aws.String(tok),
				WebAuthnMfaSettings: &types.WebAuthnMfaSettingsType{Enabled: false},
			},
		},
		{
			name: "every factor",
			s: batch.Settings{
				SMS:           batch.Factor{Enabled: batch.True},
				SoftwareToken: batch.Factor{Enabled: batch.True, Preferred: batch.True},
				Email:         batch.Factor{Enabled: batch.False},
				WebAuthn:      batch.Factor{Enabled: batch.True},
			},
			want: &cip.SetUserMFAPreferenceInput{
				AccessToken:              aws.String(tok),
				SMSMfaSettings:           &types.SMSMfaSettingsType{Enabled: true},
				SoftwareTokenMfaSettings: &types.SoftwareTokenMfaSettingsType{Enabled: true, PreferredMfa: true},
				EmailMfaSettings:         &types.EmailMfaSettingsType{Enabled: false},
				WebAuthnMfaSettings:      &types.WebAuthnMfaSettingsType{Enabled: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Input(tok)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Input sends\n %s\nwant\n %s", batch.Body(tok, got), batch.Body(tok, tc.want))
			}
		})
	}
}
