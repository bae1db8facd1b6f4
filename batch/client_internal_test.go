package batch

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// TestNewClientWritesEachRequestOnce counts the writes a call makes: net/http
// writes the headers and a body it does not know as two, and the tool
// hands it the body in a form it knows.
func TestNewClientWritesEachRequestOnce(t *testing.T) {
	srv := cognitotest.NewServer(nil)
	defer srv.Close()
	var writes atomic.Int64
	var cfg aws.Config
	cfg.Region = "us-east-1"
	client, err := newClient(cfg, srv.URL, 1, func(t *http.Transport) {
		dial := (&net.Dialer{}).DialContext
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			return countingConn{c, &writes}, err
		}
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	in := &cip.SetUserMFAPreferenceInput{
		AccessToken:    aws.String(cognitotest.Token(cognitotest.Claims{Username: "alice"})),
		SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: true},
	}
	const calls = 5
	for range calls {
		if _, err := client.SetUserMFAPreference(context.Background(), in); err != nil {
			t.Fatalf("SetUserMFAPreference: %v", err)
		}
	}
	if n := writes.Load(); n != calls {
		t.Errorf("%d calls took %d writes, want one each", calls, n)
	}
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
