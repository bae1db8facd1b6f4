package main_test

// s3:// paths when S3 refuses: a fake S3 (path-style, in memory) whose
// bucket "deny" refuses every PutObject, "fail-later" all but the first,
// and "echo" every one, quoting the caller's Authorization header.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

type fakeS3 struct {
	mu   sync.Mutex
	puts map[string]int // by bucket
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPut:
		f.mu.Lock()
		f.puts[bucket]++
		n := f.puts[bucket]
		f.mu.Unlock()
		if bucket == "echo" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<Error><Code>AccessDenied</Code><Message>denied: %s</Message></Error>`, r.Header.Get("Authorization"))
			return
		}
		if bucket == "deny" || bucket == "fail-later" && n > 1 {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
	case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
		fmt.Fprintf(w, `<ListBucketResult><Name>%s</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`, bucket)
		return
	case r.Method == http.MethodPost && r.URL.Query().Has("delete"):
		fmt.Fprint(w, `<DeleteResult></DeleteResult>`)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// echoedKey is the access key id the "echo" bucket quotes back.
const echoedKey = "AKIAQWERTYUIOPASDFGH"

func TestS3Faults(t *testing.T) {
	fake := httptest.NewServer(&fakeS3{puts: map[string]int{}})
	defer fake.Close()
	f := &s3Fixture{tl: newTool(t), url: fake.URL, tokens: map[string]string{}}
	f.cognito = cognitotest.NewServer(func(cognitotest.Call) cognitotest.Reply { return cognitotest.Reply{} })
	defer f.cognito.Close()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "users.csv")
	var b bytes.Buffer
	b.WriteString("id,access_token,sms_enabled\n")
	for i := 1; i <= 5; i++ {
		user := fmt.Sprintf("user%d", i)
		token := cognitotest.Token(cognitotest.Claims{Username: user})
		f.tokens[token] = user
		fmt.Fprintf(&b, "%s,%s,true\n", user, token)
	}
	if err := os.WriteFile(manifest, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		exit  int
		calls int
		says  string
	}{
		// Refused before the first call: nothing is sent.
		{"ReportDenied", f.env(), []string{"--report", "s3://deny/r.csv"}, 2, 0, "AccessDenied"},
		{"SummaryDenied", f.env(), []string{"--summary", "s3://deny/s.json"}, 2, 0, "AccessDenied"},
		{"NoCredentials", toolEnv(t), []string{"--report", "s3://deny/r.csv"}, 2, 0, "no AWS credentials for S3"},
		// S3's words that quote the access key id are withheld.
		{"EchoesKey", f.env("AWS_ACCESS_KEY_ID=" + echoedKey), []string{"--report", "s3://echo/r.csv"}, 2, 0, "S3's answer is withheld: it quoted the AWS credentials"},
		// Refused after the calls: the rows were sent, and the report is
		// not whole.
		{"ReportFailsLater", f.env(), []string{"--report", "s3://fail-later/r.csv"}, 4, 5, "rows sent may be missing from the report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.cognito.Calls())
			res := f.run(t, tc.env, append(append([]string{"--rps", "0"}, tc.args...), manifest)...)
			calls := len(f.cognito.Calls()) - before
			if bytes.Contains(res.stderr, []byte(echoedKey[:16])) {
				t.Errorf("stderr shows the access key id:\n%s", res.stderr)
			}
			if res.exit != tc.exit || calls != tc.calls || !bytes.Contains(res.stderr, []byte(tc.says)) {
				t.Errorf("exit %d after %d calls, want %d after %d, saying %q:\n%s", res.exit, calls, tc.exit, tc.calls, tc.says, res.stderr)
			}
		})
	}
}
