package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3RoundTrip is a live run whose manifest is read from S3 and whose
// report is written there, against moto_server's S3 on loopback: the
// tool's time and peak memory, moto's own cost not counted.
func (b *bench) s3RoundTrip() []row {
	const n = 200_000
	name := "s3: live run, 200,000 rows, manifest and report in moto's S3, --rps 0"
	if _, err := exec.LookPath("moto_server"); err != nil {
		return []row{{name, "moto_server not on PATH (pip install 'moto[server]')", "", skip}}
	}
	endpoint, stopMoto, err := startMotoS3()
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer stopMoto()
	progress("  writing a 200,000-row manifest to S3")
	path, err := b.manifest("s3", n)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer b.remove(path)
	if err := putFile(endpoint, "bench", "manifest.csv", path); err != nil {
		return []row{errorRow(name, err)}
	}
	srv, err := startFake(0)
	if err != nil {
		return []row{errorRow(name, err)}
	}
	defer srv.stop()
	progress("  live run")
	// env passes S3's endpoint, which childEnv leaves out, and execs the
	// tool: the usage measured is the tool's.
	u, err := runChild("env", "AWS_ENDPOINT_URL_S3="+endpoint, b.bin, "run", "--endpoint-url", srv.URL,
		"--rps", "0", "--report", "s3://bench/report.csv", "s3://bench/manifest.csv")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	if st, err := srv.stop(); err != nil || st.Calls != n {
		return []row{errorRow(name, fmt.Errorf("the server got %d calls for %d rows (%v)", st.Calls, n, err))}
	}
	return []row{{name + ", peak RSS",
		fmt.Sprintf("%s (%.2f s, %.2f s CPU, %s rows/s)", mib(u.maxRSS), u.wall.Seconds(), u.cpu.Seconds(), commas(int(n/u.wall.Seconds()))),
		"≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)}}
}

// startMotoS3 starts moto_server on a free loopback port, and returns its
// URL and how to stop it.
func startMotoS3() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// moto_server may be a shim that execs Python: its own group, to stop all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("moto_server not ready: %v", err)
		}
	}
}

// putFile makes bucket and uploads the file at path to it as key.
func putFile(endpoint, bucket, key, path string) error {
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f})
	return err
}
