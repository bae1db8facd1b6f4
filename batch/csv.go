package batch

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gocarina/gocsv"
)

// CSV reads a CSV manifest one physical line at a time: a cell cannot
// span lines, so a quote left open costs its own row, never the rest of
// the file.
type CSV struct{ lineManifest }

// Close does nothing: reading holds no goroutine to stop. It is kept for
// callers that close a CSV they stop reading early.
func (m *CSV) Close() error { return nil }

// Admin reports whether the manifest names users by username (admin
// mode), as its header says.
func (m *CSV) Admin() bool {
	p, ok := m.parser.(*csvParser)
	return ok && p.admin
}

// Has reports whether the header has the column.
func (m *CSV) Has(column string) bool {
	p, ok := m.parser.(*csvParser)
	return ok && slices.Contains(p.names, column)
}

// ReadCSV checks the header of a CSV manifest and returns a reader for its
// rows.
func ReadCSV(r io.Reader) (*CSV, error) {
	lines := newLineReader(r)
	for {
		text, tooLong, err := lines.next()
		switch {
		case err == io.EOF:
			return nil, ErrEmpty
		case err != nil:
			return nil, err
		}
		header, err := csv.NewReader(bytes.NewReader(text)).Read()
		var pe *csv.ParseError
		switch {
		case tooLong:
			// The names it begins with say more than its length does.
			if _, herr := checkHeader(header); err == nil && herr != nil {
				return nil, herr
			}
			return nil, &HeaderError{Msg: fmt.Sprintf("line %d is longer than %d bytes; a CSV manifest's first line names its columns: %s", lines.line, MaxLineBytes, knownColumns())}
		case errors.As(err, &pe):
			return nil, fmt.Errorf("manifest header: %w", &csv.ParseError{StartLine: lines.line, Line: lines.line, Column: pe.Column, Err: pe.Err})
		case err == io.EOF || err == nil && blank(header):
			continue
		case err != nil:
			return nil, fmt.Errorf("manifest header: %w", err)
		}
		names, err := checkHeader(header)
		if err != nil {
			return nil, err
		}
		p, err := newCSVParser(names)
		if err != nil {
			return nil, err
		}
		return &CSV{lineManifest{lines: lines, parser: p}}, nil
	}
}

// csvParser reads one line as a CSV record and maps it to fields through
// gocsv, by the header's checked column names.
type csvParser struct {
	names []string
	admin bool // the header names users by username
	line  lineSource
	um    *gocsv.Unmarshaller
}

// lineSource gives the CSV reader one line, then io.EOF until it is given
// the next: a quote left open ends at its line's end.
type lineSource struct{ text []byte }

func (s *lineSource) Read(p []byte) (int, error) {
	if len(s.text) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.text)
	s.text = s.text[n:]
	return n, nil
}

func newCSVParser(names []string) (*csvParser, error) {
	p := &csvParser{names: names, admin: slices.Contains(names, "username")}
	cr := csv.NewReader(&p.line)
	cr.FieldsPerRecord = len(names)
	// gocsv reads its header from the reader: the names, as checked.
	p.line.text = []byte(strings.Join(names, ","))
	um, err := gocsv.NewUnmarshaller(cr, fields{})
	if err != nil {
		return nil, fmt.Errorf("manifest header: %w", err)
	}
	p.um = um
	return p, nil
}

func (p *csvParser) fresh() (lineParser, error) { return newCSVParser(p.names) }

func (p *csvParser) parse(n, line int, text []byte) (Row, bool) {
	p.line.text = text
	v, err := p.um.Read()
	var pe *csv.ParseError
	switch {
	case err == io.EOF:
		return Row{}, false
	case errors.As(err, &pe) && pe.Err == csv.ErrFieldCount:
		return p.miscounted(n, line, text)
	case errors.As(err, &pe) && pe.Err == csv.ErrQuote && pe.Column > len(text):
		return Row{N: n, Err: rowErr(CodeInvalidRow, `line %d: a quoted cell does not end on its line (a cell cannot span lines): look for a stray "`, line)}, true
	case errors.As(err, &pe):
		return Row{N: n, Err: rowErr(CodeInvalidRow, "line %d, column %d: %v", line, pe.Column, pe.Err)}, true
	case err != nil:
		return Row{N: n, Err: rowErr(CodeInvalidRow, "line %d: %v", line, err)}, true
	}
	f, _ := v.(fields)
	if f.blank() {
		return Row{}, false
	}
	return f.row(n, p.admin), true
}

// miscounted reads a line whose cells do not match the header: a line of
// blank cells is skipped; any other is its row's error, named by its id
// and token where the line has them.
func (p *csvParser) miscounted(n, line int, text []byte) (Row, bool) {
	rec, err := csv.NewReader(bytes.NewReader(text)).Read()
	if err == nil && blank(rec) {
		return Row{}, false
	}
	var f fields
	for i, name := range p.names[:min(len(rec), len(p.names))] {
		switch name {
		case "id":
			f.ID = rec[i]
		case "access_token":
			f.AccessToken = rec[i]
		case "username":
			f.Username = rec[i]
		case "user_pool_id":
			f.UserPoolID = rec[i]
		}
	}
	r := f.row(n, p.admin)
	r.Err = rowErr(CodeInvalidRow, "line %d has %d fields, the header has %d", line, len(rec), len(p.names))
	return r, true
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// checkHeader matches column names case-insensitively after trimming and
// refuses unknown, repeated or missing ones: a misspelt column must never
// be ignored. A header names users by access_token (token mode) or by
// username (admin mode), never both.
func checkHeader(header []string) ([]string, error) {
	known := map[string]bool{}
	for _, c := range append(Columns, AdminColumns...) {
		known[c] = true
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		n := strings.ToLower(strings.TrimSpace(h))
		switch {
		case strings.HasPrefix(n, "eyj"):
			return nil, &HeaderError{Msg: fmt.Sprintf("column %d of the first line looks like a token: a CSV manifest's first line must name its columns: %s", i+1, knownColumns())}
		case n == "":
			return nil, &HeaderError{Msg: fmt.Sprintf("column %d has no name; the columns are: %s", i+1, knownColumns())}
		case !known[n]:
			return nil, &HeaderError{Msg: fmt.Sprintf("unknown column %q (column %d); the columns are: %s", clipName(h), i+1, knownColumns())}
		case seen[n]:
			return nil, &HeaderError{Msg: fmt.Sprintf("column %q appears twice", n)}
		}
		seen[n] = true
		names[i] = n
	}
	return names, checkMode(seen)
}

// modeHint says how each mode names its users.
const modeHint = "name users by access_token (token mode: the users' own tokens), or by username with user_pool_id or --user-pool-id (admin mode: AWS credentials); split a mixed list into two manifests"

// checkMode checks that a header names users one way.
func checkMode(seen map[string]bool) error {
	switch {
	case seen["access_token"] && seen["username"]:
		return &HeaderError{Msg: "the header has both access_token and username columns: a manifest names its users one way", Hint: modeHint}
	case seen["access_token"] && seen["user_pool_id"]:
		return &HeaderError{Msg: "the header has both access_token and user_pool_id columns: user_pool_id goes with username (admin mode); a token names its own pool", Hint: modeHint}
	case !seen["access_token"] && !seen["username"]:
		return &HeaderError{Msg: "no access_token or username column; the columns are: " + knownColumns(), Hint: modeHint}
	}
	return nil
}

// knownColumns lists the columns of both modes, for messages.
func knownColumns() string {
	return strings.Join(Columns, ", ") + "; or, in admin mode, username and user_pool_id in place of access_token"
}

// fields is one CSV record's cells by column name, as gocsv maps them.
type fields struct {
	ID                     string `csv:"id"`
	AccessToken            string `csv:"access_token"`
	Username               string `csv:"username"`
	UserPoolID             string `csv:"user_pool_id"`
	SMSEnabled             string `csv:"sms_enabled"`
	SMSPreferred           string `csv:"sms_preferred"`
	SoftwareTokenEnabled   string `csv:"software_token_enabled"`
	SoftwareTokenPreferred string `csv:"software_token_preferred"`
	EmailEnabled           string `csv:"email_enabled"`
	EmailPreferred         string `csv:"email_preferred"`
	WebAuthnEnabled        string `csv:"webauthn_enabled"`
}

func (f *fields) blank() bool {
	return blank([]string{f.ID, f.AccessToken, f.Username, f.UserPoolID, f.SMSEnabled, f.SMSPreferred, f.SoftwareTokenEnabled,
		f.SoftwareTokenPreferred, f.EmailEnabled, f.EmailPreferred, f.WebAuthnEnabled})
}

// row turns cells into a Row, naming the first unreadable column; admin
// says the header names users by username.
func (f *fields) row(n int, admin bool) Row {
	r := Row{N: n, ID: strings.TrimSpace(f.ID), Token: Token(strings.TrimSpace(f.AccessToken)), keyed: true,
		Admin: admin, Username: strings.TrimSpace(f.Username), UserPoolID: strings.TrimSpace(f.UserPoolID)}
	if r.Err = checkID(&r.ID); r.Err != nil {
		return r
	}
	cells := []struct {
		col string
		val string
		dst *Bool
	}{
		{"sms_enabled", f.SMSEnabled, &r.Settings.SMS.Enabled},
		{"sms_preferred", f.SMSPreferred, &r.Settings.SMS.Preferred},
		{"software_token_enabled", f.SoftwareTokenEnabled, &r.Settings.SoftwareToken.Enabled},
		{"software_token_preferred", f.SoftwareTokenPreferred, &r.Settings.SoftwareToken.Preferred},
		{"email_enabled", f.EmailEnabled, &r.Settings.Email.Enabled},
		{"email_preferred", f.EmailPreferred, &r.Settings.Email.Preferred},
		{"webauthn_enabled", f.WebAuthnEnabled, &r.Settings.WebAuthn.Enabled},
	}
	for _, c := range cells {
		b, err := ParseBool(c.val)
		if err != nil {
			r.Err = rowErr(CodeInvalidBoolean, "column %s: %q is %v", c.col, clip(c.val), err)
			return r
		}
		*c.dst = b
	}
	return r
}
