package batch_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// The engine's client reads every answer whole: a thousand pages of 60
// users from a server that answers at once, and not one cut off as it was
// read ("use of closed network connection", which Go's transport and the
// SDK's closing of request bodies caused about once in a hundred calls).
func TestAnswersAreReadWhole(t *testing.T) {
	srv := cognitotest.NewServer(nil)
	defer srv.Close()
	const pool = "us-east-1_Whole"
	if err := srv.AddUsers(cognitotest.Generated(pool, 60)); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: cognitotest.TestCredentials}}
	client, err := batch.NewClient(cfg, srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	srv.KeepCalls(false)
	failed := 0
	for range 1000 {
		out, err := client.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(pool), Limit: aws.Int32(60)})
		if err != nil || len(out.Users) != 60 {
			failed++
			if failed == 1 {
				t.Errorf("a page was not read whole: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of 1,000 pages failed", failed)
	}
}
