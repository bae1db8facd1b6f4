package main

// The run's AWS configuration and credentials: loaded once for Cognito and
// S3 alike, found before the first call that needs them, and kept from
// every output.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/mfabatch/mfabatch/batch"
)

// awsSetup loads the AWS configuration once, for every client of the run.
type awsSetup struct {
	f *runFlags

	once  sync.Once
	cfg   aws.Config
	creds *seenCredentials // nil when the configuration has no provider
	err   error
}

// load returns the configuration, its credentials remembered as the SDK
// hands them out.
func (a *awsSetup) load(ctx context.Context) (aws.Config, error) {
	a.once.Do(func() {
		a.cfg, a.err = loadAWSConfig(ctx, a.f)
		if a.err == nil && a.cfg.Credentials != nil {
			a.creds = &seenCredentials{CredentialsProvider: a.cfg.Credentials}
			a.cfg.Credentials = a.creds
		}
	})
	return a.cfg, a.err
}

// secrets are the credentials' values seen so far.
func (a *awsSetup) secrets() []string {
	if a.creds == nil {
		return nil
	}
	return a.creds.secrets()
}

// loadAWSConfig loads the AWS configuration. Its region serves only tokens
// and pools that name none: --region is passed to the engine apart, since
// it also checks every row's issuer.
func loadAWSConfig(ctx context.Context, f *runFlags) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	if f.caBundle != "" {
		// Checked here, to name the flag: the SDK's own error names no file.
		pem, err := os.ReadFile(f.caBundle)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pem) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			return aws.Config{}, usageError{fmt.Sprintf("--ca-bundle %s: %v", f.caBundle, err), "give a PEM file of the CA certificates to trust"}
		}
		// Given first, it wins over AWS_CA_BUNDLE and the profile's ca_bundle.
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		// The SDK's words here name files and keys, never a key's value.
		return cfg, usageError{fmt.Sprintf("AWS configuration: %v", err), "check --profile, AWS_PROFILE, and AWS_CA_BUNDLE or the profile's ca_bundle"}
	}
	return cfg, nil
}

// seenCredentials is the SDK's credentials provider, remembering the
// values of each set it hands out: nothing the service sends back may
// show them, and role credentials change during a long run.
type seenCredentials struct {
	aws.CredentialsProvider

	mu     sync.Mutex
	values []string
}

func (s *seenCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := s.CredentialsProvider.Retrieve(ctx)
	if err == nil {
		s.mu.Lock()
		for _, v := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if v != "" && len(s.values) < 64 && !slices.Contains(s.values, v) {
				s.values = append(s.values, v)
			}
		}
		s.mu.Unlock()
	}
	return c, err
}

// secrets returns the values seen so far.
func (s *seenCredentials) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.values)
}

// use has the engine find the credentials before its first admin call,
// and keep their values from its output.
func (a *awsSetup) use(rc *batch.Config) {
	rc.Secrets = a.secrets
	rc.Credentials = a.check
}

// check finds credentials for admin mode, or says where the SDK looked.
func (a *awsSetup) check(ctx context.Context) error {
	if a.creds == nil {
		return noCredentials(a.f, nil)
	}
	c, err := a.creds.Retrieve(ctx)
	if err == nil && !c.HasKeys() {
		err = errors.New("the credentials found have no keys")
	}
	if err != nil {
		return noCredentials(a.f, err)
	}
	return nil
}

// noCredentials says that admin mode found no AWS credentials, and where
// the SDK looked for them.
func noCredentials(f *runFlags, err error) error {
	profile := cmp.Or(f.profile, os.Getenv("AWS_PROFILE"), "default")
	files := fmt.Sprintf("%s and %s", cmp.Or(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), config.DefaultSharedCredentialsFilename()),
		cmp.Or(os.Getenv("AWS_CONFIG_FILE"), config.DefaultSharedConfigFilename()))
	msg := "admin mode signs each call with AWS credentials, and none were found. The SDK looked in: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); " +
		fmt.Sprintf("profile %q of %s (keys, SSO, a role or credential_process); ", profile, files) +
		"web identity (AWS_WEB_IDENTITY_TOKEN_FILE, as on EKS); the container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, as on ECS and AWS Batch); and the EC2 instance metadata service"
	if err != nil {
		msg += fmt.Sprintf(" (the SDK said: %s)", sdkSaid(err))
	}
	return usageError{msg, "set AWS_PROFILE or pass --profile (run aws sso login first for SSO), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; nothing was sent, and a dry run needs no credentials"}
}

// secretLike is a run of 20 or more characters that a key id, a secret
// key or a session token is made of: the SDK quotes what a
// credential_process printed when it cannot parse it, secrets included.
var secretLike = regexp.MustCompile(`[A-Za-z0-9+/=_-]{20,}`)

// sdkSaid is the SDK's error as a person may read it: one line, at most
// 300 bytes, every run that could be a credential withheld.
func sdkSaid(err error) string {
	msg := secretLike.ReplaceAllString(err.Error(), "<withheld>")
	msg = string(bytes.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, []byte(msg)))
	return clipText(msg, 300)
}

// clipText shortens s to at most n bytes.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
