package main

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// skeletonFactors are the four factor blocks both calls take, as the AWS
// CLI's skeletons print them.
const skeletonFactors = `    "SMSMfaSettings": {
        "Enabled": true,
        "PreferredMfa": true
    },
    "SoftwareTokenMfaSettings": {
        "Enabled": true,
        "PreferredMfa": true
    },
    "EmailMfaSettings": {
        "Enabled": true,
        "PreferredMfa": true
    },
    "WebAuthnMfaSettings": {
        "Enabled": true
    },
`

// skeletonInput is what `aws cognito-idp set-user-mfa-preference
// --generate-cli-skeleton input` prints: every field of the input.
const skeletonInput = "{\n" + skeletonFactors + `    "AccessToken": ""
}
`

// skeletonAdminInput is what `aws cognito-idp admin-set-user-mfa-preference
// --generate-cli-skeleton input` prints (AWS CLI 1.45: four factors).
const skeletonAdminInput = "{\n" + skeletonFactors + `    "Username": "",
    "UserPoolId": ""
}
`

// skeletonYAMLInput is what `aws cognito-idp set-user-mfa-preference
// --generate-cli-skeleton yaml-input` (AWS CLI v2) prints: the fields and
// values of skeletonInput, each with the first sentence of its
// documentation in the Cognito API reference.
const skeletonYAMLInput = `SMSMfaSettings: # User preferences for SMS message MFA.
  Enabled: true # Specifies whether SMS message MFA is activated.
  PreferredMfa: true # Specifies whether SMS is the preferred MFA method.
SoftwareTokenMfaSettings: # User preferences for time-based one-time password (TOTP) MFA.
  Enabled: true # Specifies whether software token MFA is activated.
  PreferredMfa: true # Specifies whether software token MFA is the preferred MFA method.
EmailMfaSettings: # User preferences for email message MFA.
  Enabled: true # Specifies whether email message MFA is active for a user.
  PreferredMfa: true # Specifies whether email message MFA is the user's preferred method.
WebAuthnMfaSettings: # User preferences for passkey MFA.
  Enabled: true # Specifies whether passkey MFA is activated for a user.
AccessToken: '' # [REQUIRED] A valid access token that Amazon Cognito issued to the currently signed-in user.
`

const exampleToken = "REPLACE_WITH_ACCESS_TOKEN"

// skeletons names the skeletons, for the usage line.
const skeletons = "mfabatch skeleton input|output|csv|jsonl|yaml-input|admin-input|admin-csv|admin-jsonl"

func skeletonCmd(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError{"skeleton takes one argument", skeletons}
	}
	var out string
	switch args[0] {
	case "input":
		out = skeletonInput
	case "yaml-input":
		out = skeletonYAMLInput
	case "output":
		var b bytes.Buffer
		w := report.NewJSONL(&b)
		if err := w.Write(exampleResult()); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		out = b.String()
	case "csv":
		out = strings.Join(batch.Columns, ",") + "\n" +
			"alice@example.com," + exampleToken + ",,,true,true,,,\n"
	case "jsonl":
		out = `{"id":"alice@example.com","access_token":"` + exampleToken + `","software_token_enabled":true,"software_token_preferred":true,"sms_enabled":null,"sms_preferred":null,"email_enabled":null,"email_preferred":null,"webauthn_enabled":null}` + "\n"
	case "admin-input":
		out = skeletonAdminInput
	case "admin-csv":
		out = strings.Join(batch.AdminColumns, ",") + "\n" +
			"alice@example.com,alice,eu-west-1_AbC123,,,true,true,,,\n"
	case "admin-jsonl":
		out = `{"id":"alice@example.com","username":"alice","user_pool_id":"eu-west-1_AbC123","software_token_enabled":true,"software_token_preferred":true,"sms_enabled":null,"sms_preferred":null,"email_enabled":null,"email_preferred":null,"webauthn_enabled":null}` + "\n"
	default:
		return usageError{"unknown skeleton " + quote(args[0]), skeletons}
	}
	_, err := io.WriteString(stdout, out)
	return err
}

// exampleResult is a report row as a successful run with
// --skip-unchanged --verify writes it: a read, the write, a read back.
func exampleResult() batch.Result {
	const fp = "3f1c9a7be2d40c55"
	before, _ := batch.ParseState("sms*")
	after, _ := batch.ParseState("sms,totp*")
	return batch.Result{
		Row: 1, ID: "alice@example.com", Username: "alice",
		Sub: "7d1f3c2e-8a4b-4e6f-9c1d-2b3a4c5d6e7f", Region: "us-east-1",
		TokenSHA256: fp, Status: batch.StatusSucceeded, Attempts: 3, HTTPStatus: 200,
		Action: batch.ActionChange, Before: before, After: after,
		RequestID: "2f6c1a8e-4b7d-4c3e-9a1f-5d8b7e6c4a2b",
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 87 * time.Millisecond,
		Request: `{"AccessToken":"<redacted:` + fp + `>","SoftwareTokenMfaSettings":{"Enabled":true,"PreferredMfa":true}}`,
	}
}
