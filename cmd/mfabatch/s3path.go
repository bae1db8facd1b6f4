package main

// s3://bucket/key paths: parsing them, and the S3 client every path of a
// command shares. Reading is in s3read.go, writing in s3write.go.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/mfabatch/mfabatch/batch"
)

// s3Path is an s3://bucket/key path.
type s3Path struct{ bucket, key string }

func (p s3Path) String() string { return "s3://" + p.bucket + "/" + p.key }

// isS3 reports whether path is an S3 URL rather than a local path.
func isS3(path string) bool {
	return len(path) >= 5 && strings.EqualFold(path[:5], "s3://")
}

// bucketName is what S3 takes as a bucket's name, the older names of
// us-east-1 (capitals, underscores) included.
var bucketName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]$`)

// parseS3 reads an s3://bucket/key path; role, if any, names the path's
// role in the error ("the manifest", "--report").
func parseS3(path, role string) (s3Path, error) {
	rest := path[len("s3://"):]
	bucket, key, _ := strings.Cut(rest, "/")
	hint := "give an S3 path as s3://bucket/key, e.g. s3://example-bucket/reports/run-1.csv"
	name := path
	if role != "" {
		name = role + " " + path
	}
	switch {
	case bucket == "":
		return s3Path{}, usageError{name + ": no bucket", hint}
	case !bucketName.MatchString(bucket):
		return s3Path{}, usageError{fmt.Sprintf("%s: %q is not a bucket name", name, bucket), hint}
	case key == "":
		return s3Path{}, usageError{name + ": no object key after the bucket", hint}
	case strings.HasSuffix(key, "/"):
		return s3Path{}, usageError{name + ": the key ends in /, as a folder does", "name the object itself, e.g. " + path + "report.csv"}
	}
	return s3Path{bucket: bucket, key: key}, nil
}

// storage opens a command's paths in S3. The S3 client is made at the
// first S3 path, so that runs with local paths only need no AWS
// configuration for it.
type storage struct {
	setup  *awsSetup // the run's AWS configuration
	kmsKey string    // --sse-kms-key-id; "" for SSE-S3

	once  sync.Once
	store *s3Store
	err   error
}

// s3 returns the S3 client, made once. p names the path that needs it.
func (st *storage) s3(ctx context.Context, p s3Path) (*s3Store, error) {
	st.once.Do(func() { st.store, st.err = newS3Store(ctx, st.setup, st.kmsKey) })
	if st.err != nil {
		return nil, fmt.Errorf("%s: %w", p, st.err)
	}
	return st.store, nil
}

// open parses the S3 path and returns the client for it; role names the
// path in errors, as parseS3's does.
func (st *storage) open(ctx context.Context, path, role string) (*s3Store, s3Path, error) {
	p, err := parseS3(path, role)
	if err != nil {
		return nil, p, err
	}
	store, err := st.s3(ctx, p)
	return store, p, err
}

// s3Store is the S3 client, how the objects it writes are encrypted, and
// the credentials' values, which no message from S3 may show.
type s3Store struct {
	client  *s3.Client
	kmsKey  string
	secrets func() []string
}

// defaultS3Region serves an AWS configuration that names no region: S3
// needs one to sign, and us-east-1 answers for every bucket's name.
const defaultS3Region = "us-east-1"

func newS3Store(ctx context.Context, setup *awsSetup, kmsKey string) (*s3Store, error) {
	cfg, err := setup.load(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	// S3 paths need credentials, unlike the token calls: say so before
	// any call rather than at the first write.
	if cfg.Credentials == nil {
		return nil, noS3Credentials(errors.New("no credential provider"))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, noS3Credentials(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// An emulator on a loopback address has no per-bucket host names.
		o.UsePathStyle = o.UsePathStyle || loopbackEndpoint(aws.ToString(o.BaseEndpoint))
	})
	return &s3Store{client: client, kmsKey: kmsKey, secrets: setup.secrets}, nil
}

func noS3Credentials(err error) error {
	return usageError{"no AWS credentials for S3: " + sdkSaid(err),
		"S3 paths need credentials allowed s3:GetObject, s3:PutObject, s3:ListBucket and s3:DeleteObject: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role"}
}

// loopbackEndpoint reports whether endpoint's host is a loopback address
// or localhost.
func loopbackEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && u.Host != "" && batch.Loopback(u.Hostname())
}

// fail says what an S3 call did wrong in a line: the service's code and
// message, not the SDK's whole chain of operation, status and ids. S3's
// words are untrusted: one that quotes the credentials is withheld.
func (st *s3Store) fail(op string, p s3Path, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s %s: %w", op, p, err)
	}
	msg := ae.ErrorCode()
	if m := ae.ErrorMessage(); m != "" {
		msg += ": " + m
	}
	if batch.QuotesSecret(msg, st.secrets()) {
		msg = "S3's answer is withheld: it quoted the AWS credentials"
	}
	return callError{fmt.Sprintf("%s %s: %s", op, p, msg), err}
}

// callError is an S3 call's error as a person reads it; it wraps the SDK's.
type callError struct {
	msg string
	err error
}

func (e callError) Error() string { return e.msg }
func (e callError) Unwrap() error { return e.err }

// notFound reports whether err is S3's answer for a missing object.
func notFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// checkS3Paths checks, before anything is read, the roles' S3 paths, and
// that --sse-kms-key-id has an S3 object to encrypt.
func checkS3Paths(f *runFlags, roles []fileRole) error {
	writes := false
	for _, r := range roles {
		if !isS3(r.path) {
			continue
		}
		role := "the manifest"
		if r.flag != "" {
			role = "--" + r.flag
		}
		if _, err := parseS3(r.path, role); err != nil {
			return err
		}
		writes = writes || r.flag == "report" || r.flag == "output" || r.flag == "summary" || r.flag == "metrics-file"
	}
	if f.sseKMSKeyID != "" && !writes {
		return usageError{"--sse-kms-key-id: the run writes no S3 object to encrypt", "give --report or --summary an s3:// path, or leave the flag out"}
	}
	return nil
}
