package main

// Rollback's tokens and output: the run's manifest read for the tokens of
// token rows, the manifest kept aside until whole, then written out, and
// the lines that say what it holds.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// readTokens streams the manifest the run read and writes a token row for
// each report row to put back whose token it holds, matched by
// fingerprint. Tokens the report does not name are passed over.
func (rb *rollback) readTokens(ctx context.Context) error {
	if rb.f.manifest == "" {
		return usageError{fmt.Sprintf("%s to put back name their users by access token, which a report never holds", rowCount(len(rb.tokens))),
			"pass --manifest with the manifest the run read: its tokens are matched by token_sha256. Access tokens expire (1 hour after sign-in by default): roll back before they do, or by username (admin mode)"}
	}
	m, closeManifest, err := rb.openManifest(ctx)
	if err != nil {
		return err
	}
	defer closeManifest()
	w, err := rb.writer(false)
	if err != nil {
		return err
	}
	now := time.Now()
	for ctx.Err() == nil {
		row, err := m.Next()
		if err == io.EOF {
			rb.listMissing()
			return nil
		}
		if err != nil {
			return usageError{"--manifest " + rb.f.manifest + ": " + err.Error(), ""}
		}
		if err := rb.putBackToken(w, row, now); err != nil {
			return err
		}
	}
	return context.Cause(ctx)
}

// openManifest opens --manifest as run does (a path, - or s3://; CSV,
// JSON Lines, JSON or YAML) and returns it with its closer.
func (rb *rollback) openManifest(ctx context.Context) (batch.Manifest, func(), error) {
	src, err := openManifest(ctx, rb.st, rb.f.manifest, rb.stdin, false)
	if err != nil {
		return nil, nil, usageError{"--manifest: " + err.Error(), ""}
	}
	if src.pipe {
		src.r = untilDone(ctx, src.r)
	}
	m, _, err := readManifest(src.r, src, rb.f.manifestFormat)
	var ue usageError
	switch {
	case errors.Is(err, batch.ErrEmpty):
		return noRows{}, src.close, nil
	case errors.As(err, &ue):
		// readManifest's hints name run's flag for the manifest's format.
		err = usageError{"--manifest: " + ue.msg, strings.ReplaceAll(ue.hint, "--format", "--manifest-format")}
	case err == nil && adminCSV(m):
		err = usageError{"--manifest " + rb.f.manifest + " names its users by username: it holds no access tokens", "give --manifest the manifest of access tokens the run read"}
	case err != nil:
		err = usageError{"--manifest " + rb.f.manifest + ": " + err.Error(), ""}
	}
	if err != nil {
		src.close()
		return nil, nil, err
	}
	return m, func() {
		if c, ok := m.(io.Closer); ok {
			c.Close()
		}
		src.close()
	}, nil
}

// putBackToken writes row's token with the settings of the report row
// that names it, the first time the manifest gives it. A token that has
// expired is left out: the service would refuse it.
func (rb *rollback) putBackToken(w *batch.ManifestWriter, row batch.Row, now time.Time) error {
	if row.Token == "" {
		return nil
	}
	fp := batch.Fingerprint(row.Token)
	k, _ := strconv.ParseUint(fp, 16, 64)
	t, ok := rb.tokens[k]
	if !ok || t.matched {
		return nil
	}
	t.matched = true
	rb.tokens[k] = t
	claims, _ := batch.ParseToken(row.Token) // the claims read, whatever is wrong after them
	if exp := claims.Exp; !exp.IsZero() && !exp.After(now) {
		id := row.ID
		if batch.QuotesSecret(id, []string{string(row.Token)}) {
			id = "" // an id column holding the token: the row is named without it
		}
		rb.leave(leftExpired, rowName(report.Row{Row: int(t.row), ID: id, TokenSHA256: fp}),
			"its access token in --manifest expired at "+exp.Format(time.RFC3339)+": sign the user in again for a new one, or roll back by username (admin mode)")
		return nil
	}
	if exp := claims.Exp; !exp.IsZero() && (rb.expires.IsZero() || exp.Before(rb.expires)) {
		rb.expires = exp
	}
	rb.count.put++
	if err := w.Write(batch.Row{ID: row.ID, Token: row.Token, Settings: t.settings}); err != nil {
		return spoolFailed(err)
	}
	return nil
}

// listMissing leaves out, in the report's order, the token rows whose
// token the manifest did not hold.
func (rb *rollback) listMissing() {
	type missing struct {
		row int32
		fp  uint64
	}
	var rows []missing
	for k, t := range rb.tokens {
		if !t.matched {
			rows = append(rows, missing{t.row, k})
		}
	}
	slices.SortFunc(rows, func(a, b missing) int { return cmp.Compare(a.row, b.row) })
	for _, m := range rows {
		who := rowName(report.Row{Row: int(m.row), TokenSHA256: fmt.Sprintf("%016x", m.fp)})
		rb.leave(leftNoToken, who, "its token is not in --manifest "+rb.f.manifest)
	}
}

// spool is the manifest being written, kept in an unlinked temporary
// file until it is whole: the output gets all of it or nothing, and a
// manifest of tokens leaves no file behind, even after kill -9.
type spool struct {
	f     *os.File
	w     *batch.ManifestWriter
	admin bool
}

// writer is the spool's manifest writer, made at its first use: by
// username when admin, else by token.
func (rb *rollback) writer(admin bool) (*batch.ManifestWriter, error) {
	if rb.out != nil {
		return rb.out.w, nil
	}
	format, err := rb.f.outputFormat()
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "mfabatch-rollback-*")
	if err != nil {
		return nil, spoolFailed(err)
	}
	os.Remove(f.Name())
	w, err := batch.NewManifestWriter(f, format, admin)
	if err != nil {
		f.Close()
		return nil, err
	}
	rb.out = &spool{f: f, w: w, admin: admin}
	return w, nil
}

func spoolFailed(err error) error {
	return usageError{"cannot keep the manifest aside until it is whole: " + err.Error(), "free space in the temporary folder (or set TMPDIR)"}
}

// write puts the whole manifest where --output says; a manifest of
// tokens never on a terminal. Nothing is written unless all of it is.
func (rb *rollback) write(ctx context.Context, stdout io.Writer) error {
	w, err := rb.writer(rb.f.manifest == "")
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return spoolFailed(err)
	}
	var out dest = stdoutDest{stdout}
	if rb.f.output != "-" {
		if err := readerWaits(ctx, rb.f.output, rb.stderr); err != nil {
			return err
		}
		if out, err = createOutput(ctx, rb.st, rb.f.output, false); err != nil {
			return usageError{"cannot create the manifest: " + err.Error(), "give --output a path you can write"}
		}
	}
	if err := rb.copyOut(ctx, out); err != nil {
		out.abandon()
		return err
	}
	if err := out.close(); err != nil {
		return fmt.Errorf("cannot write the manifest: %w", err)
	}
	return nil
}

// copyOut copies the spool to out.
func (rb *rollback) copyOut(ctx context.Context, out dest) error {
	if !rb.out.admin {
		var screen io.Writer = out
		where := "standard output"
		if o, ok := out.(*outFile); ok {
			screen, where = o.f, "--output "+rb.f.output
		}
		if err := refuseTerminal(screen, where); err != nil {
			return err
		}
	}
	if _, err := rb.out.f.Seek(0, io.SeekStart); err != nil {
		return spoolFailed(err)
	}
	if _, err := io.Copy(out, rb.out.f); err != nil {
		return fmt.Errorf("cannot write the manifest: %w", err)
	}
	return context.Cause(ctx) // a signal during the copy: nothing is put in place
}

// stdoutDest is standard output as a dest: written as it comes.
type stdoutDest struct{ io.Writer }

func (stdoutDest) staged() bool  { return false }
func (stdoutDest) commit() error { return nil }
func (stdoutDest) abandon()      {}
func (stdoutDest) close() error  { return nil }

// tell says what the manifest holds: notes, the report's rows by what
// they did, and last the rows put back and left out.
func (rb *rollback) tell() {
	c := rb.count
	switch {
	case rb.out.admin && rb.f.manifest != "":
		fmt.Fprintln(rb.stderr, "mfabatch: note: --manifest was not read: the rows to put back name their users by username")
	case !rb.out.admin && c.put > 0:
		first := ""
		if !rb.expires.IsZero() {
			first = "; the first of these at " + rb.expires.Format(time.RFC3339)
		}
		fmt.Fprintf(rb.stderr, "mfabatch: note: the manifest holds the users' access tokens, which expire (1 hour after sign-in by default%s): run it before they do\n", first)
	}
	fmt.Fprintf(rb.stderr, "mfabatch: rollback: the report has %s: %d changed, %d changed nothing%s\n", rowCount(c.rows), c.changed, c.rows-c.changed, rb.unchangedCounts())
	passkeys := ""
	if c.passkeys > 0 {
		passkeys = fmt.Sprintf(" (%d without their passkey setting)", c.passkeys)
	}
	var reasons []string
	for i, n := range c.left {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", leftNames[i], n))
		}
	}
	why := ""
	if len(reasons) > 0 {
		why = " (" + strings.Join(reasons, ", ") + ")"
	}
	fmt.Fprintf(rb.stderr, "mfabatch: rollback: %s to put back%s, %d left out%s\n", rowCount(c.put), passkeys, rb.leftOut(), why)
}

// unchangedCounts is " (failed 1, skipped 2)": the rows that changed
// nothing, by status in the order summaries show them.
func (rb *rollback) unchangedCounts() string {
	var parts []string
	for _, st := range batch.Statuses {
		if n := rb.count.unchanged[string(st)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// rowCount is "1 row" or "N rows".
func rowCount(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}

// regular reports whether f is a regular file, which a read never waits
// on.
func regular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// untilDone reads r until ctx is done, even while a read waits on a pipe:
// that read is left to end with the process.
func untilDone(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads into a buffer of its own, which an abandoned read keeps.
func (c *ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b := make([]byte, len(p))
		n, err := c.r.Read(b)
		done <- read{b[:n], err}
	}()
	select {
	case r := <-done:
		return copy(p, r.b), r.err
	case <-c.ctx.Done():
		return 0, context.Cause(c.ctx)
	}
}
