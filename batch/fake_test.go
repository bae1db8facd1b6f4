package batch_test

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/mfabatch/mfabatch/batch"
)

// fakeClient is the engine's Cognito client for tests, after
// aws-sdk-go-v2's UploadLoggingClient (feature/s3/manager): each method
// logs its call, then answers with its function field when the test sets
// one, else with success. Another operation is a field and a method.
type fakeClient struct {
	SetUserMFAPreferenceFn      setMFAFunc
	AdminSetUserMFAPreferenceFn adminSetMFAFunc
	GetUserFn                   getUserFunc
	AdminGetUserFn              adminGetUserFunc

	mu  sync.Mutex
	log []fakeCall
}

type setMFAFunc = func(context.Context, *cip.SetUserMFAPreferenceInput, ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error)

type adminSetMFAFunc = func(context.Context, *cip.AdminSetUserMFAPreferenceInput, ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error)

type getUserFunc = func(context.Context, *cip.GetUserInput, ...func(*cip.Options)) (*cip.GetUserOutput, error)

type adminGetUserFunc = func(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)

// fakeCall is one entry of a fakeClient's log.
type fakeCall struct {
	Op     string
	Region string    // as the engine's options set it
	Token  string    // the access token's fingerprint: a log that a test prints holds no token
	User   string    // an admin call's pool and username, "POOL/USERNAME"
	At     time.Time // when the call started; ascending in the log
	Err    error     // what the call returned
}

func (f *fakeClient) SetUserMFAPreference(ctx context.Context, in *cip.SetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error) {
	c := fakeCall{Op: "SetUserMFAPreference", Token: batch.Fingerprint(batch.Token(aws.ToString(in.AccessToken)))}
	return answer(ctx, f, c, f.SetUserMFAPreferenceFn, in, optFns)
}

func (f *fakeClient) AdminSetUserMFAPreference(ctx context.Context, in *cip.AdminSetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.AdminSetUserMFAPreferenceOutput, error) {
	c := fakeCall{Op: "AdminSetUserMFAPreference", User: aws.ToString(in.UserPoolId) + "/" + aws.ToString(in.Username)}
	return answer(ctx, f, c, f.AdminSetUserMFAPreferenceFn, in, optFns)
}

func (f *fakeClient) GetUser(ctx context.Context, in *cip.GetUserInput, optFns ...func(*cip.Options)) (*cip.GetUserOutput, error) {
	c := fakeCall{Op: "GetUser", Token: batch.Fingerprint(batch.Token(aws.ToString(in.AccessToken)))}
	return answer(ctx, f, c, f.GetUserFn, in, optFns)
}

func (f *fakeClient) AdminGetUser(ctx context.Context, in *cip.AdminGetUserInput, optFns ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
	c := fakeCall{Op: "AdminGetUser", User: aws.ToString(in.UserPoolId) + "/" + aws.ToString(in.Username)}
	return answer(ctx, f, c, f.AdminGetUserFn, in, optFns)
}

// answer logs c, then answers the call with fn, or with an empty output
// when fn is nil.
func answer[In, Out any](ctx context.Context, f *fakeClient, c fakeCall, fn func(context.Context, *In, ...func(*cip.Options)) (*Out, error), in *In, optFns []func(*cip.Options)) (*Out, error) {
	var o cip.Options
	for _, opt := range optFns {
		opt(&o)
	}
	c.Region = o.Region
	f.mu.Lock()
	c.At = time.Now() // under the lock, so that the log's times ascend
	i := len(f.log)
	f.log = append(f.log, c)
	f.mu.Unlock()

	out, err := new(Out), error(nil)
	if fn != nil {
		out, err = fn(ctx, in, optFns...)
	}
	f.mu.Lock()
	f.log[i].Err = err
	f.mu.Unlock()
	return out, err
}

// Calls returns the log, in the order the calls started.
func (f *fakeClient) Calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.log...)
}

// Regions counts the calls per region.
func (f *fakeClient) Regions() map[string]int {
	n := map[string]int{}
	for _, c := range f.Calls() {
		n[c.Region]++
	}
	return n
}

// answerWhen answers each call with success once the channel that ready
// returns for it gives a value, or with the context's error if that ends
// first: a gate a test opens, or a latency.
func answerWhen[T any](ready func() <-chan T) setMFAFunc {
	return func(ctx context.Context, _ *cip.SetUserMFAPreferenceInput, _ ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error) {
		select {
		case <-ready():
			return &cip.SetUserMFAPreferenceOutput{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// answerAfter answers each call after d.
func answerAfter(d time.Duration) setMFAFunc {
	return answerWhen(func() <-chan time.Time { return time.After(d) })
}
