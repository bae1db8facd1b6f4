package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Row is one manifest record. It names its user by access token (token
// mode) or by username and user pool (admin mode), never both.
type Row struct {
	N          int // 1-based record number, header and blank lines not counted
	ID         string
	Token      Token  // token mode: the user's access token
	Admin      bool   // admin mode: the row names its user by Username
	Username   string // admin mode: the user's name in the pool
	UserPoolID string // admin mode: the pool; "" for Config.UserPoolID's
	Settings   Settings
	// keyed says the row itself said how it names its user (a JSON Lines
	// row's keys); a row that did not follows the rows before it. both
	// says it gave a token and a username.
	keyed, both bool
	// Err is set when the record could not be read; the other fields hold
	// what could be.
	Err *RowError
}

// Manifest yields rows in order. Next returns io.EOF after the last row;
// any other error means the manifest cannot be read further.
type Manifest interface {
	Next() (Row, error)
}

// settingsColumns are the columns of what a row asks for, in both modes.
var settingsColumns = []string{
	"sms_enabled", "sms_preferred",
	"software_token_enabled", "software_token_preferred",
	"email_enabled", "email_preferred",
	"webauthn_enabled",
}

// Columns are a token-mode manifest's column names, in the order of the
// skeleton.
var Columns = append([]string{"id", "access_token"}, settingsColumns...)

// AdminColumns are an admin-mode manifest's column names, in the order of
// the skeleton. user_pool_id may be left out for --user-pool-id.
var AdminColumns = append([]string{"id", "username", "user_pool_id"}, settingsColumns...)

// HeaderError is a CSV header the tool will not guess about, with a hint
// at the fix when there is one.
type HeaderError struct{ Msg, Hint string }

func (e *HeaderError) Error() string { return "manifest header: " + e.Msg }

// ModeError ends a manifest whose rows name users both ways: by access
// token and by username. A run is in one mode, so that the same user is
// never named twice under two keys.
type ModeError struct {
	Line  int  // the first line that names a user the other way
	Admin bool // that line names its user by username
	Both  bool // that line names its user both ways
}

func (e *ModeError) Error() string {
	switch {
	case e.Both:
		return fmt.Sprintf("manifest line %d gives both an access token and a username: a row names its user one way", e.Line)
	case e.Admin:
		return fmt.Sprintf("manifest line %d names its user by username, but the rows before it name users by access token: a manifest is in one mode", e.Line)
	}
	return fmt.Sprintf("manifest line %d names its user by access token, but the rows before it name users by username: a manifest is in one mode", e.Line)
}

// ErrEmpty is returned for a manifest with no header row.
var ErrEmpty = errors.New("manifest is empty: a CSV manifest needs a header row")

// maxIDBytes bounds an id echoed in the report; ids are user names and
// e-mail addresses.
const maxIDBytes = 1024

// checkID withholds an id that looks like a token or holds one, as when
// columns are swapped or a cell says "Bearer <token>": the id is echoed
// in the report, and tokens never are.
func checkID(id *string) *RowError {
	s := *id
	if len(s) > maxIDBytes {
		*id = ""
		return rowErr(CodeInvalidRow, "the id is %d bytes, more than %d: check the column order", len(s), maxIDBytes)
	}
	if !holdsJWT(s) {
		return nil
	}
	*id = ""
	return rowErr(CodeInvalidRow, "the id looks like an access token and is withheld from the report: check the column order")
}

// clip shortens a value quoted in a message to fewer than 16 bytes: a
// token in the wrong column must not reach a message.
func clip(s string) string {
	if len(s) <= 12 {
		return s
	}
	cut := 12
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// clipName quotes a column or key name whole, so a typo can be read, when
// it cannot be a piece of a token: shorter than 16 bytes, or a name of
// letters of one case with underscores and spaces, as column names are
// (a token's characters mix cases and digits). Anything else is clipped.
func clipName(s string) string {
	if len(s) < 16 || len(s) <= 40 && nameLike(s) {
		return s
	}
	return clip(s)
}

func nameLike(s string) bool {
	lower, upper := false, false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c != '_' && c != ' ':
			return false
		}
	}
	return !(lower && upper)
}

// MaxLineBytes bounds one line of a manifest; real rows are a few KiB.
const MaxLineBytes = 1 << 20

// lineReader reads a manifest one physical line at a time, after any
// byte-order mark. A line longer than MaxLineBytes is passed over, not
// held, so memory stays flat whatever the file holds. It keeps each
// line's number and where it starts, so that a row can be read again.
type lineReader struct {
	r    *bufio.Reader
	buf  []byte // a line longer than r's buffer, pieced together
	line int    // the number of the line last read, from 1
	off  int64  // where it starts
	end  int64  // where the next line starts
}

func newLineReader(r io.Reader) *lineReader {
	l := &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	if bom, _ := l.r.Peek(3); string(bom) == "\ufeff" {
		l.r.Discard(3)
		l.end = 3
	}
	return l
}

// next returns the next line without its end, valid until the next call;
// io.EOF after the last line. For a line over MaxLineBytes it reports
// tooLong, with no more than the line's first MaxLineBytes as text.
func (l *lineReader) next() (text []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	size := 0
	for {
		chunk, err := l.r.ReadSlice('\n')
		size += len(chunk)
		if size <= MaxLineBytes+2 && (err == bufio.ErrBufferFull || len(l.buf) > 0) {
			l.buf = append(l.buf, chunk...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && size == 0:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, fmt.Errorf("manifest: %w", err)
		}
		l.line++
		l.off, l.end = l.end, l.end+int64(size)
		if len(l.buf) > 0 {
			chunk = l.buf
		}
		chunk = bytes.TrimSuffix(bytes.TrimSuffix(chunk, []byte("\n")), []byte("\r"))
		if size > MaxLineBytes+2 || len(chunk) > MaxLineBytes {
			return chunk[:min(len(chunk), MaxLineBytes)], true, nil
		}
		return chunk, false, nil
	}
}

// lineParser reads the row on one line of a manifest.
type lineParser interface {
	// parse reads row n from line; ok is false for a line that holds no
	// row (a blank one).
	parse(n, line int, text []byte) (row Row, ok bool)
	// fresh returns a parser of the same manifest that shares nothing
	// with this one.
	fresh() (lineParser, error)
}

// lineManifest is a manifest read a line at a time, with a row on each
// line that is not blank: CSV and JSON Lines.
type lineManifest struct {
	lines  *lineReader
	parser lineParser
	n      int // rows read
	mode   mode
}

// mode is how a manifest's rows name their users, once a row has said.
type mode int

const (
	modeUnknown mode = iota
	modeToken
	modeAdmin
)

// Next returns the next row.
func (m *lineManifest) Next() (Row, error) {
	for {
		row, ok, err := m.readRow()
		if ok || err != nil {
			return row, err
		}
	}
}

// readRow reads the next line; ok is false when it holds no row.
func (m *lineManifest) readRow() (row Row, ok bool, err error) {
	text, tooLong, err := m.lines.next()
	switch {
	case err != nil:
		return Row{}, false, err
	case tooLong:
		row, ok = Row{N: m.n + 1, Err: rowErr(CodeInvalidRow, "line %d is longer than %d bytes", m.lines.line, MaxLineBytes)}, true
	default:
		row, ok = m.parser.parse(m.n+1, m.lines.line, text)
	}
	if !ok {
		return row, false, nil
	}
	if err := m.keepMode(&row); err != nil {
		return Row{}, false, err
	}
	m.n++
	return row, true, nil
}

// keepMode holds the manifest to the mode of its first row that says how
// it names its user; a row that does not say follows it.
func (m *lineManifest) keepMode(row *Row) error {
	switch {
	case row.both:
		return &ModeError{Line: m.lines.line, Both: true}
	case !row.keyed:
		row.Admin = row.Admin || m.mode == modeAdmin
	case m.mode == modeUnknown && row.Admin:
		m.mode = modeAdmin
	case m.mode == modeUnknown:
		m.mode = modeToken
	case row.Admin != (m.mode == modeAdmin):
		return &ModeError{Line: m.lines.line, Admin: row.Admin}
	}
	return nil
}

func (m *lineManifest) byLine() *lineManifest { return m }
