// Command demo runs a live mfabatch rollout against a local Cognito
// emulator (moto_server), for a newcomer with no AWS account: it starts the
// emulator on a free loopback port, creates a user pool with 50 users
// holding real access tokens, writes a manifest, previews it with a dry
// run, applies it, shows the summary and the first report rows, reads a few
// users back to show the change, and stops the emulator, also on an error
// or Ctrl-C. Run it from the repository: make demo, or go run ./internal/demo.
package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"golang.org/x/sync/errgroup"
)

const (
	region   = "us-east-1"
	users    = 50
	rps      = "20" // 50 rows take about 2.5 s: long enough to watch
	password = "Passw0rd!demo"
	// Two users are made to fail on purpose, to show how the report tells.
	revokedUser = "user03" // signed out everywhere: its token is revoked
	noAppUser   = "user06" // asked for TOTP without an authenticator app
)

func main() {
	bin := flag.String("mfabatch", "", "the mfabatch binary to run (default: build ./cmd/mfabatch into a temporary directory)")
	keep := flag.Bool("keep", false, "keep the manifest and reports (the tokens are the emulator's, worthless once it stops)")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; cancel() }()

	start := time.Now()
	err := run(ctx, *bin, *keep)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "demo: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: error: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nDone in %v. Next: README.md (Running unattended, Sharding) and samples/.\n", time.Since(start).Round(100*time.Millisecond))
}

func step(format string, a ...any) { fmt.Printf("\n==> "+format+"\n", a...) }

func run(ctx context.Context, bin string, keep bool) error {
	moto, err := exec.LookPath("moto_server")
	if err != nil {
		return errors.New("moto_server, the AWS emulator this demo runs on, is not on PATH\n" +
			"demo: hint: pip install 'moto[server]' (Python 3), then make demo again")
	}
	dir, err := os.MkdirTemp("", "mfabatch-demo-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Printf("\nThe demo's files are kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	if bin == "" {
		step("building mfabatch")
		bin = filepath.Join(dir, "mfabatch")
		gocmd := cmp.Or(os.Getenv("GO"), "go")
		b := exec.CommandContext(ctx, gocmd, "build", "-o", bin, "github.com/mfabatch/mfabatch/cmd/mfabatch")
		b.Stdout, b.Stderr = os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("go build: %w (run the demo from the repository)", err)
		}
	}

	step("starting moto_server, a local Cognito emulator")
	url, stop, err := startMoto(ctx, moto, filepath.Join(dir, "moto.log"))
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("listening on %s\n", url)

	step("creating a user pool with %d users, each signed in for a real access token", users)
	t0 := time.Now()
	c := newCognito(url)
	poolID, clientID, err := createPool(ctx, c)
	if err != nil {
		return err
	}
	us, err := setupUsers(ctx, c, poolID, clientID)
	if err != nil {
		return err
	}
	manifest := filepath.Join(dir, "manifest.csv")
	if err := writeManifest(manifest, us); err != nil {
		return err
	}
	fmt.Printf("pool %s: %d users in %v; every third one has a verified authenticator app\n",
		poolID, len(us), time.Since(t0).Round(time.Millisecond))
	fmt.Println("manifest (mode 0600: access tokens are secrets):", manifest)
	fmt.Println("  users with an app get software_token_enabled,software_token_preferred = true,true")
	fmt.Println("  the others get          sms_enabled,sms_preferred = true,true")
	fmt.Printf("  on purpose: %s's token is revoked, and %s asks for TOTP without an app\n", revokedUser, noAppUser)

	shown := []string{"user01", "user02", revokedUser, noAppUser, "user09"}
	before, err := readBack(ctx, c, poolID, shown)
	if err != nil {
		return err
	}

	common := []string{"run", "--endpoint-url", url, "--region", region, "--rps", rps}
	step("previewing: mfabatch run --dry-run (sends nothing)")
	if code, err := mfabatch(ctx, bin, dir, append(common, "--dry-run", "--report", filepath.Join(dir, "dry-run.csv"), manifest)...); err != nil {
		return err
	} else if code != 0 {
		return fmt.Errorf("the dry run exited %d: every row should be valid", code)
	}

	args := append(common, "--report", filepath.Join(dir, "report.csv"), "--summary", filepath.Join(dir, "summary.json"))
	if hasProgressFlag(ctx, bin) {
		args = append(args, "--progress", "auto")
	}
	args = append(args, manifest)
	step("applying: mfabatch %s", strings.Join(redactArgs(args, dir), " "))
	code, err := mfabatch(ctx, bin, dir, args...)
	if err != nil {
		return err
	}
	if code != 0 && code != 1 {
		return fmt.Errorf("mfabatch exited %d", code)
	}
	fmt.Printf("mfabatch exited %d (1: some rows did not succeed, as planned)\n", code)

	step("the first rows of the report (%s)", filepath.Join(dir, "report.csv"))
	if err := showReport(filepath.Join(dir, "report.csv")); err != nil {
		return err
	}

	step("reading users back from the emulator with AdminGetUser")
	after, err := readBack(ctx, c, poolID, shown)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "user\tbefore\tafter")
	for i, name := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, before[i], after[i])
	}
	tw.Flush()

	return nil
}

// startMoto starts moto_server on a free loopback port in its own process
// group (it is a Python process behind a pyenv shim), waits until it
// answers, and returns its URL and a function that stops it.
func startMoto(ctx context.Context, bin, logPath string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, fmt.Errorf("start moto_server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
		fmt.Println("\nmoto_server stopped")
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	for {
		if resp, err := client.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			fmt.Printf("ready in %v\n", time.Since(t0).Round(100*time.Millisecond))
			return url, stop, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			stop()
			return "", nil, fmt.Errorf("moto_server exited before it was ready:\n%s", log)
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(t0) > 30*time.Second {
			stop()
			return "", nil, fmt.Errorf("moto_server did not answer on %s within 30s (log: %s)", url, logPath)
		}
	}
}

// newCognito is an SDK client for the emulator, built from Options so that
// no AWS configuration or credentials of yours are read.
func newCognito(endpoint string) *cip.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	return cip.New(cip.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("demo", "demo", ""),
		HTTPClient:   &http.Client{Transport: transport},
	})
}

func createPool(ctx context.Context, c *cip.Client) (string, string, error) {
	up, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String("mfabatch-demo")})
	if err != nil {
		return "", "", fmt.Errorf("CreateUserPool: %w", err)
	}
	cl, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId:        up.UserPool.Id,
		ClientName:        aws.String("mfabatch-demo-app"),
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{types.ExplicitAuthFlowsTypeAllowUserPasswordAuth},
	})
	if err != nil {
		return "", "", fmt.Errorf("CreateUserPoolClient: %w", err)
	}
	return aws.ToString(up.UserPool.Id), aws.ToString(cl.UserPoolClient.ClientId), nil
}

type user struct {
	name, token string
	totp        bool // the manifest asks for TOTP (else SMS)
}

// setupUsers creates the users, four at a time (moto is one Python
// process), signs each in for an access token, and gives every third one a
// verified software token, which TOTP MFA needs.
func setupUsers(ctx context.Context, c *cip.Client, poolID, clientID string) ([]user, error) {
	us := make([]user, users)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range us {
		name := fmt.Sprintf("user%02d", i+1)
		app := (i+1)%3 == 0 && name != noAppUser
		us[i] = user{name: name, totp: app || name == noAppUser}
		g.Go(func() error {
			tok, err := setupUser(ctx, c, poolID, clientID, name, app)
			if err != nil {
				return fmt.Errorf("setting up %s: %w", name, err)
			}
			us[i].token = tok
			return nil
		})
	}
	return us, g.Wait()
}

func setupUser(ctx context.Context, c *cip.Client, poolID, clientID, name string, app bool) (string, error) {
	if _, err := c.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId:     aws.String(poolID),
		Username:       aws.String(name),
		UserAttributes: []types.AttributeType{{Name: aws.String("phone_number"), Value: aws.String("+15555550100")}},
		MessageAction:  types.MessageActionTypeSuppress,
	}); err != nil {
		return "", fmt.Errorf("AdminCreateUser: %w", err)
	}
	if _, err := c.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(poolID), Username: aws.String(name),
		Password: aws.String(password), Permanent: true,
	}); err != nil {
		return "", fmt.Errorf("AdminSetUserPassword: %w", err)
	}
	auth, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(clientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": name, "PASSWORD": password},
	})
	if err != nil {
		return "", fmt.Errorf("InitiateAuth: %w", err)
	}
	if auth.AuthenticationResult == nil {
		return "", fmt.Errorf("InitiateAuth: challenge %q instead of tokens", auth.ChallengeName)
	}
	token := auth.AuthenticationResult.AccessToken
	if app {
		if _, err := c.AssociateSoftwareToken(ctx, &cip.AssociateSoftwareTokenInput{AccessToken: token}); err != nil {
			return "", fmt.Errorf("AssociateSoftwareToken: %w", err)
		}
		// The emulator accepts any code.
		if _, err := c.VerifySoftwareToken(ctx, &cip.VerifySoftwareTokenInput{AccessToken: token, UserCode: aws.String("123456")}); err != nil {
			return "", fmt.Errorf("VerifySoftwareToken: %w", err)
		}
	}
	if name == revokedUser {
		if _, err := c.GlobalSignOut(ctx, &cip.GlobalSignOutInput{AccessToken: token}); err != nil {
			return "", fmt.Errorf("GlobalSignOut: %w", err)
		}
	}
	return aws.ToString(token), nil
}

func writeManifest(path string, us []user) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "access_token", "sms_enabled", "sms_preferred", "software_token_enabled", "software_token_preferred"})
	for _, u := range us {
		row := []string{u.name + "@example.com", u.token, "true", "true", "", ""}
		if u.totp {
			row = []string{u.name + "@example.com", u.token, "", "", "true", "true"}
		}
		w.Write(row)
	}
	w.Flush()
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// mfabatch runs the tool with the demo's output, in an environment cut off
// from your AWS configuration, and returns its exit code. On Ctrl-C the
// terminal signals it too; it is signalled here only if it is still running
// a second later (a second signal would make it stop at once).
func mfabatch(ctx context.Context, bin, dir string, args ...string) (int, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	none := filepath.Join(dir, "no-aws")
	cmd.Env = []string{"AWS_CONFIG_FILE=" + filepath.Join(none, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(none, "credentials"), "AWS_EC2_METADATA_DISABLED=true"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if u := strings.ToUpper(k); !strings.HasPrefix(u, "AWS_") && !strings.HasSuffix(u, "_PROXY") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-done:
			case <-time.After(time.Second):
				cmd.Process.Signal(os.Interrupt)
			}
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("mfabatch: %w", err)
	}
	return 0, nil
}

// hasProgressFlag reports whether this mfabatch has --progress.
func hasProgressFlag(ctx context.Context, bin string) bool {
	out, _ := exec.CommandContext(ctx, bin, "run", "-h").Output()
	return progressFlag.Match(out)
}

var progressFlag = regexp.MustCompile(`(?m)^\s+--?progress(\s|$)`)

// redactArgs shortens the temporary directory in the command shown.
func redactArgs(args []string, dir string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		out[i] = strings.ReplaceAll(a, dir+string(filepath.Separator), "")
	}
	return out
}

// showReport prints the first rows of the report, in its most telling
// columns, and checks that only the two users meant to fail did.
func showReport(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil || len(recs) < 2 {
		return fmt.Errorf("report %s: %v", path, cmp.Or(err, errors.New("no rows")))
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	cols := []string{"row", "id", "status", "error_code", "attempts", "http_status", "duration_ms", "error_message"}
	rows := recs[1:]
	// The file is in the order rows finished; shown here by row number.
	slices.SortStableFunc(rows, func(a, b []string) int {
		x, _ := strconv.Atoi(a[col["row"]])
		y, _ := strconv.Atoi(b[col["row"]])
		return x - y
	})
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, rec := range rows[:min(len(rows), 8)] {
		var cells []string
		for _, c := range cols {
			cells = append(cells, cmp.Or(rec[col[c]], "-"))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	fmt.Printf("... %d rows in all, one per manifest row, in the order they finished.\n", len(rows))
	fmt.Println("The emulator puts the revoked token itself in its error message; mfabatch never")
	fmt.Println("shows a token, so it is replaced by its fingerprint (token_sha256).")
	for _, rec := range rows {
		want := "succeeded"
		if id := rec[col["id"]]; id == revokedUser+"@example.com" || id == noAppUser+"@example.com" {
			want = "failed"
		}
		if rec[col["status"]] != want {
			return fmt.Errorf("report row %s (%s) is %s, want %s", rec[col["row"]], rec[col["id"]], rec[col["status"]], want)
		}
	}
	return nil
}

// readBack reads each user's MFA state with AdminGetUser.
func readBack(ctx context.Context, c *cip.Client, poolID string, names []string) ([]string, error) {
	var states []string
	for _, name := range names {
		out, err := c.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(poolID), Username: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("AdminGetUser %s: %w", name, err)
		}
		s := "no MFA"
		if len(out.UserMFASettingList) > 0 {
			s = "enabled " + strings.Join(out.UserMFASettingList, ",")
			if p := aws.ToString(out.PreferredMfaSetting); p != "" {
				s += ", preferred " + p
			}
		}
		states = append(states, s)
	}
	return states, nil
}
