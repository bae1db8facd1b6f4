package batch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// privateCA starts a fake Cognito over HTTPS, its certificate for hosts
// signed by a CA made for the test, and writes the CA's certificate to a
// PEM file, as a company's private CA hands it out.
func privateCA(t *testing.T, hosts ...string) (*cognitotest.Server, string) {
	t.Helper()
	ca, err := cognitotest.NewCA("mfabatch test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Certificate(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := cognitotest.NewTLSServer(nil, cert)
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, bundle
}

// isolateAWSConfig points the SDK at an empty configuration: nothing from
// the machine's own AWS set-up takes part.
func isolateAWSConfig(t *testing.T) string {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE": "", "AWS_CA_BUNDLE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	return dir
}

func setMFA(client *cip.Client) error {
	_, err := client.SetUserMFAPreference(context.Background(), &cip.SetUserMFAPreferenceInput{
		AccessToken:    aws.String(cognitotest.Token(cognitotest.Claims{Username: "alice"})),
		SMSMfaSettings: &types.SMSMfaSettingsType{Enabled: true},
	})
	return err
}

// The client trusts the CA bundle the AWS configuration names, in
// AWS_CA_BUNDLE or the profile's ca_bundle, as the AWS CLI does; without
// it, the private CA's certificate is refused.
func TestClientTrustsConfiguredCABundle(t *testing.T) {
	for _, way := range []string{"none", "AWS_CA_BUNDLE", "ca_bundle"} {
		t.Run(way, func(t *testing.T) {
			dir := isolateAWSConfig(t)
			srv, bundle := privateCA(t, "127.0.0.1")
			opts := []func(*config.LoadOptions) error{config.WithRegion("us-east-1")}
			switch way {
			case "AWS_CA_BUNDLE":
				t.Setenv("AWS_CA_BUNDLE", bundle)
			case "ca_bundle":
				profile := "[profile corp]\nca_bundle = " + bundle + "\n"
				if err := os.WriteFile(filepath.Join(dir, "config"), []byte(profile), 0o600); err != nil {
					t.Fatal(err)
				}
				opts = append(opts, config.WithSharedConfigProfile("corp"))
			}
			cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			client, err := NewClient(cfg, srv.URL, 2)
			if err != nil {
				t.Fatal(err)
			}
			err = setMFA(client)
			switch {
			case way == "none" && (err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority")):
				t.Errorf("without the bundle: %v, want the certificate refused", err)
			case way != "none" && err != nil:
				t.Errorf("with the bundle: %v", err)
			}
		})
	}
}

// proxyChildEnv marks the run of TestClientUsesProxyFromEnvironment that
// makes the call, in a process of its own: net/http reads the proxy
// variables once per process.
const proxyChildEnv = "MFABATCH_TEST_PROXY_CHILD"

// The client goes through HTTPS_PROXY, and not for a host in NO_PROXY.
// The endpoint's host name is never resolved: the child's transport
// dials loopback addresses only, and the proxy sends every CONNECT to the
// fake, so nothing leaves this machine.
func TestClientUsesProxyFromEnvironment(t *testing.T) {
	const host = "cognito-idp.example.test"
	if os.Getenv(proxyChildEnv) != "" {
		proxyChild(t, "https://"+host)
		return
	}
	srv, bundle := privateCA(t, host)
	proxy := startConnectProxy(t, strings.TrimPrefix(srv.URL, "https://"))
	for _, tc := range []struct {
		noProxy, want string
		connects      []string
	}{
		{"", "child: ok", []string{host + ":443"}},
		{host, "refusing to dial " + host + ":443", nil},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestClientUsesProxyFromEnvironment$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), proxyChildEnv+"=1", "AWS_CA_BUNDLE="+bundle,
			"HTTPS_PROXY=http://"+proxy.addr, "https_proxy=", "NO_PROXY="+tc.noProxy, "no_proxy=",
			"AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "config"), "AWS_EC2_METADATA_DISABLED=true")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("NO_PROXY=%q: the call did not end in %q:\n%s", tc.noProxy, tc.want, out)
		}
		if got := proxy.take(); strings.Join(got, " ") != strings.Join(tc.connects, " ") {
			t.Errorf("NO_PROXY=%q: the proxy got CONNECT %q, want %q", tc.noProxy, got, tc.connects)
		}
	}
}

// proxyChild makes one call to endpoint through a transport that dials
// loopback addresses only, and prints how it went.
func proxyChild(t *testing.T, endpoint string) {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := newClient(cfg, endpoint, 1, func(tr *http.Transport) {
		dial := (&net.Dialer{}).DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to dial %s", addr)
			}
			return dial(ctx, network, addr)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := setMFA(client); err != nil {
		fmt.Printf("child: %v\n", err)
		return
	}
	fmt.Println("child: ok")
}

// connectProxy is an HTTPS proxy on loopback that records the targets of
// CONNECT requests and joins each to the one address it serves.
type connectProxy struct {
	addr     string
	mu       sync.Mutex
	connects []string
}

func startConnectProxy(t *testing.T, backend string) *connectProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &connectProxy{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, backend)
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn, backend string) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	p.mu.Lock()
	p.connects = append(p.connects, req.Host)
	p.mu.Unlock()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer b.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go io.Copy(b, br)
	io.Copy(c, b)
}

// take returns the CONNECT targets since the last take.
func (p *connectProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.connects
	p.connects = nil
	return got
}
