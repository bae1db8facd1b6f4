package cognitotest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// TestWriteAgreesWithState runs every settings a row can send, on every
// state a user can be in, through the server and through batch.State.With:
// the state the server has after the write is the state With
// predicts. (AdminGetUser answers what Server.User has: see
// TestTokenWriteAdminRead.)
func TestWriteAgreesWithState(t *testing.T) {
	const pool = "us-east-1_Agree1"
	srv := cognitotest.NewServer(nil)
	defer srv.Close()
	c := cip.New(cip.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		HTTPClient:  batch.WholeBodies{Client: awshttp.NewBuildableClient()}, // a whole body: see batch.WholeBodies
		Credentials: credentials.StaticCredentialsProvider{Value: cognitotest.TestCredentials},
	})
	n := 0
	for _, before := range allStates(t) {
		for _, s := range allSettings() {
			n++
			name := fmt.Sprintf("user%05d", n)
			var list []string
			preferred := ""
			for i, api := range []string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"} {
				if before.Enabled(i) {
					list = append(list, api)
				}
				if before.Preferred(i) {
					preferred = api
				}
			}
			if err := srv.AddUser(cognitotest.User{Pool: pool, Username: name, MFA: list, Preferred: preferred}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.AdminSetUserMFAPreference(context.Background(), s.AdminInput(pool, name)); err != nil {
				t.Fatal(err)
			}
			u, _ := srv.User(pool, name)
			if got, want := batch.StateOf(u.MFA, &u.Preferred), before.With(s); got != want {
				t.Errorf("%s, then %+v: the server has %q, With says %q", before, s, got, want)
			}
		}
	}
}

// allStates are the states a user can be in: any factors enabled, and
// none or one of them preferred.
func allStates(t *testing.T) []batch.State {
	var states []batch.State
	names := []string{"sms", "totp", "email"}
	for set := range 1 << len(names) {
		var on []string
		for i, name := range names {
			if set&(1<<i) != 0 {
				on = append(on, name)
			}
		}
		for p := -1; p < len(on); p++ {
			text := "none"
			if len(on) > 0 {
				text = ""
				for i, name := range on {
					if i > 0 {
						text += ","
					}
					text += name
					if i == p {
						text += "*"
					}
				}
			}
			st, err := batch.ParseState(text)
			if err != nil {
				t.Fatal(err)
			}
			states = append(states, st)
		}
	}
	return states
}

// allSettings are the settings a row can send for SMS, TOTP and email:
// each factor left out, or sent with any Enabled and PreferredMfa.
func allSettings() []batch.Settings {
	blocks := []batch.Factor{{}, {Enabled: batch.False, Preferred: batch.False}, {Enabled: batch.True, Preferred: batch.False},
		{Enabled: batch.True, Preferred: batch.True}, {Enabled: batch.False, Preferred: batch.True}}
	var all []batch.Settings
	for _, sms := range blocks {
		for _, totp := range blocks {
			for _, email := range blocks {
				all = append(all, batch.Settings{SMS: sms, SoftwareToken: totp, Email: email})
			}
		}
	}
	return all
}
