package main_test

// rollback with s3:// paths: the built binary against moto_server's S3.

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/mfabatch/mfabatch/batch"
)

// rollback reads the report and the run's manifest from S3, and writes
// its manifest of tokens there, encrypted, whole.
func TestS3Rollback(t *testing.T) {
	f := newS3Fixture(t, newTool(t), startMoto(t), "rollback")
	f.manifest(t, "in/users.csv", "user", 3)
	token := map[string]string{}
	for tok, user := range f.tokens {
		token[user] = tok
	}
	fp := func(user string) string { return batch.Fingerprint(batch.Token(token[user])) }
	report := "row,id,username,sub,region,user_pool_id,token_sha256,status,error_code,error_message,attempts,http_status,request_id,started_at,duration_ms,request,action,before,after\n"
	for i, r := range []struct{ user, status, before string }{
		{"user001", "succeeded", "totp*"}, {"user002", "succeeded", ""}, {"user003", "failed", "none"},
	} {
		req := `"{""AccessToken"":""<redacted:` + fp(r.user) + `>"",""SMSMfaSettings"":{""Enabled"":true,""PreferredMfa"":true}}"`
		report += fmt.Sprintf("%d,%s,%s,,us-east-1,us-east-1_TEST,%s,%s,,,1,200,,2026-11-25T09:30:00Z,5,%s,change,%s,sms*\n", i+1, r.user, r.user, fp(r.user), r.status, req, r.before)
	}
	f.put(t, "out/report.csv", []byte(report))

	res := f.tl.runEnv(t, f.env(), "rollback", "--manifest", "s3://rollback/in/users.csv", "--output", "s3://rollback/out/undo.csv", "s3://rollback/out/report.csv")
	f.noLeak(t, res.stdout, res.stderr)
	if res.exit != 1 || !strings.Contains(string(res.stderr), "mfabatch: left out: row 2 (id \"user002\", token "+fp("user002")+"): the report has no before state") ||
		!strings.HasSuffix(string(res.stderr), "mfabatch: rollback: 1 row to put back, 1 left out (no before state 1)\n") {
		t.Fatalf("exit %d, want 1\n%s", res.exit, res.stderr)
	}
	out, err := f.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("out/undo.csv")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "id,access_token,sms_enabled,sms_preferred,software_token_enabled,software_token_preferred,email_enabled,email_preferred,webauthn_enabled\n" +
		"user001," + token["user001"] + ",false,false,true,true,,,\n"
	if string(got) != want {
		t.Errorf("the manifest in S3:\n%s\nwant:\n%s", got, want)
	}
	if out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("the manifest's encryption is %q, want AES256", out.ServerSideEncryption)
	}
}
