package main

// --metrics-push: push-add to a Pushgateway.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// openPush checks --metrics-push: https, or http to this machine, as for
// --endpoint-url. Credentials in the URL go to the gateway, never to a
// message: its user and password as basic auth, its query on each push.
func (m *metrics) openPush(labels prometheus.Labels) error {
	u, err := url.Parse(m.push)
	if err != nil || u.Host == "" || u.Opaque != "" {
		// Not quoted: the URL may hold credentials.
		return usageError{"--metrics-push: not a URL like https://HOST:9091 or http://127.0.0.1:9091", ""}
	}
	base := url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
	m.gateway = base.String()
	if batch.CheckEndpoint(u.Scheme+"://"+u.Host) != nil {
		return usageError{"--metrics-push " + m.gateway + ": want https, or plain http to localhost or a loopback address", "the push may carry credentials: use https"}
	}
	m.pushLast = &lastSuccess{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(append(m.collectors(), m.pushLast)...)
	m.pusher = push.New(m.gateway, metricsJob).Gatherer(reg).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).
		Client(gateway{query: u.RawQuery, client: &http.Client{
			// A redirect is an answer: it does not take the push elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}})
	if u.User != nil {
		pw, _ := u.User.Password()
		m.pusher.BasicAuth(u.User.Username(), pw)
	}
	for k, v := range labels {
		m.pusher.Grouping(k, v)
	}
	return nil
}

// gateway sends pushes: the URL's query on each, and an answer other
// than the gateway's 200 or 202 as a pushError. Its errors name neither
// the URL nor what the gateway said, which may quote credentials.
type gateway struct {
	query  string
	client *http.Client
}

// pushError is a push that failed, in words that hold no credential.
type pushError struct{ problem string }

func (e pushError) Error() string { return e.problem }

func (g gateway) Do(req *http.Request) (*http.Response, error) {
	if g.query != "" {
		req.URL.RawQuery = g.query
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, pushError{transportProblem(req.Context(), err)}
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, pushError{fmt.Sprintf("the gateway answered HTTP %d", resp.StatusCode)}
	}
	return resp, nil
}

// transportProblem names a push that got no answer; "" when the push
// was dropped on purpose (halt).
func transportProblem(ctx context.Context, err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within " + pushTimeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dns):
		return "unknown host"
	case errors.As(err, &cert), errors.As(err, &authority):
		return "its certificate is not trusted"
	}
	return "it cannot be reached"
}

// pushProblem is why a push failed, in words that hold no credential;
// "" for a push dropped on purpose.
func pushProblem(err error) string {
	var pe pushError
	if errors.As(err, &pe) {
		return pe.problem
	}
	// The client library's own errors, before anything is sent, name
	// series, not the URL.
	return err.Error()
}
