package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// rollbackFiles writes a token run's report of one changed row, and the
// manifest that run read; it returns their paths and the row's token.
func rollbackFiles(t *testing.T) (reportPath, manifestPath, token string) {
	t.Helper()
	dir := t.TempDir()
	token = cognitotest.Token(cognitotest.Claims{Username: "alice"})
	fp := batch.Fingerprint(batch.Token(token))
	reportPath, manifestPath = filepath.Join(dir, "r.csv"), filepath.Join(dir, "m.csv")
	report := "row,id,username,sub,region,user_pool_id,token_sha256,status,error_code,error_message,attempts,http_status,request_id,started_at,duration_ms,request,action,before,after\n" +
		`1,alice,alice,,us-east-1,us-east-1_TEST,` + fp + `,succeeded,,,1,200,,2026-11-25T09:30:00Z,5,"{""AccessToken"":""<redacted:` + fp + `>"",""SMSMfaSettings"":{""Enabled"":true,""PreferredMfa"":true}}",change,totp*,"sms*,totp"` + "\n"
	if err := os.WriteFile(reportPath, []byte(report), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifestPath, []byte("id,access_token,sms_enabled\nalice,"+token+",true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return reportPath, manifestPath, token
}

// A manifest of tokens goes to a pipe, as to a file: mfabatch rollback
// ... | mfabatch run -.
func TestRollbackTokensToPipe(t *testing.T) {
	reportPath, manifestPath, token := rollbackFiles(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	var stderr bytes.Buffer
	code := cli(context.Background(), []string{"rollback", "--manifest", manifestPath, reportPath}, strings.NewReader(""), w, &stderr)
	w.Close()
	want := "id,access_token,sms_enabled,sms_preferred,software_token_enabled,software_token_preferred,email_enabled,email_preferred,webauthn_enabled\n" +
		"alice," + token + ",false,false,true,true,,,\n"
	if out := <-got; code != exitOK || out != want {
		t.Errorf("exit %d, stdout\n%s\nwant exit 0 and\n%s\nstderr:\n%s", code, out, want, &stderr)
	}
	if strings.Contains(stderr.String(), token[:40]) {
		t.Errorf("stderr shows the token:\n%s", &stderr)
	}
}

// A manifest of tokens is never shown on a terminal: standard output or
// --output. On standard output it is refused before the report is read.
func TestRollbackTokensNotToTerminal(t *testing.T) {
	reportPath, manifestPath, _ := rollbackFiles(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"stdout": {[]string{"--manifest", manifestPath, filepath.Join(t.TempDir(), "no-such-report.csv")},
			"mfabatch: error: the manifest holds access tokens, and standard output is a terminal: they are not shown there\n"},
		"--output": {[]string{"--manifest", manifestPath, "--output", tty.Name(), reportPath},
			"mfabatch: error: the manifest holds access tokens, and --output " + tty.Name() + " is a terminal: they are not shown there\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := cli(context.Background(), append([]string{"rollback"}, tc.args...), strings.NewReader(""), tty, &stderr)
			hint := "mfabatch: hint: pass --output FILE (written with mode 0600), or pipe it: mfabatch rollback ... | mfabatch run -\n"
			if code != exitNotSent || !strings.HasPrefix(stderr.String(), tc.want) || !strings.HasSuffix(stderr.String(), hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, and:\n%s%s", code, &stderr, tc.want, hint)
			}
		})
	}
}
