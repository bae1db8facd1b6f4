package main

// Admin mode's AWS credentials: found before the first admin call, and
// kept from every output.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/mfabatch/mfabatch/batch"
)

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
			if v != "" && len(s.values) < 64 {
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
	return s.values
}

// watchCredentials makes cfg's credentials remembered as the SDK hands
// them out; nil when cfg has none.
func watchCredentials(cfg *aws.Config) *seenCredentials {
	if cfg.Credentials == nil {
		return nil
	}
	seen := &seenCredentials{CredentialsProvider: cfg.Credentials}
	cfg.Credentials = seen
	return seen
}

// use has the engine find the credentials before its first admin call,
// and keep their values from its output.
func (s *seenCredentials) use(rc *batch.Config, f *runFlags) {
	if s != nil {
		rc.Secrets = s.secrets
	}
	rc.Credentials = func(ctx context.Context) error { return s.check(ctx, f) }
}

// check finds credentials, or says where the SDK looked.
func (s *seenCredentials) check(ctx context.Context, f *runFlags) error {
	if s == nil {
		return noCredentials(f, nil)
	}
	c, err := s.Retrieve(ctx)
	if err == nil && !c.HasKeys() {
		err = errors.New("the credentials found have no keys")
	}
	if err != nil {
		return noCredentials(f, err)
	}
	return nil
}

// adminCSV reports whether m is a CSV manifest of admin rows, known from
// its header before any row is read.
func adminCSV(m batch.Manifest) bool {
	csv, ok := m.(*batch.CSV)
	return ok && csv.Admin()
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
		msg += fmt.Sprintf(" (the SDK said: %s)", clipText(err.Error(), 300))
	}
	return usageError{msg, "set AWS_PROFILE or pass --profile (run aws sso login first for SSO), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; nothing was sent, and a dry run needs no credentials"}
}

// clipText shortens s to at most n bytes.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
