package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Row is one manifest record.
type Row struct {
	N        int // 1-based record number, header and blank lines not counted
	ID       string
	Token    Token
	Settings Settings
	// Err is set when the record could not be read; the other fields hold
	// what could be.
	Err *RowError
}

// Manifest yields rows in order. Next returns io.EOF after the last row;
// any other error means the manifest cannot be read further.
type Manifest interface {
	Next() (Row, error)
}

// Columns are the manifest's column names, in the order of the skeleton.
var Columns = []string{
	"id", "access_token",
	"sms_enabled", "sms_preferred",
	"software_token_enabled", "software_token_preferred",
	"email_enabled", "email_preferred",
	"webauthn_enabled",
}

// HeaderError is a CSV header the tool will not guess about.
type HeaderError struct{ Msg string }

func (e *HeaderError) Error() string { return "manifest header: " + e.Msg }

// ErrEmpty is returned for a manifest with no header row.
var ErrEmpty = errors.New("manifest is empty: a CSV manifest needs a header row")

// fields is one record's cells by column name, as both formats read them.
type fields struct {
	ID                     string `csv:"id"`
	AccessToken            string `csv:"access_token"`
	SMSEnabled             string `csv:"sms_enabled"`
	SMSPreferred           string `csv:"sms_preferred"`
	SoftwareTokenEnabled   string `csv:"software_token_enabled"`
	SoftwareTokenPreferred string `csv:"software_token_preferred"`
	EmailEnabled           string `csv:"email_enabled"`
	EmailPreferred         string `csv:"email_preferred"`
	WebAuthnEnabled        string `csv:"webauthn_enabled"`
}

func (f *fields) blank() bool {
	return blank([]string{f.ID, f.AccessToken, f.SMSEnabled, f.SMSPreferred, f.SoftwareTokenEnabled,
		f.SoftwareTokenPreferred, f.EmailEnabled, f.EmailPreferred, f.WebAuthnEnabled})
}

// row turns cells into a Row, naming the first unreadable column.
func (f *fields) row(n int) Row {
	r := Row{N: n, ID: strings.TrimSpace(f.ID), Token: Token(strings.TrimSpace(f.AccessToken))}
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

// CSV reads a CSV manifest one physical line at a time: a cell cannot
// span lines, so a quote left open costs its own row, never the rest of
// the file.
type CSV struct{ lineManifest }

// Close does nothing: reading holds no goroutine to stop. It is kept for
// callers that close a CSV they stop reading early.
func (m *CSV) Close() error { return nil }

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
			return nil, &HeaderError{fmt.Sprintf("line %d is longer than %d bytes; a CSV manifest's first line names its columns: %s", lines.line, MaxLineBytes, strings.Join(Columns, ", "))}
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
	p := &csvParser{names: names}
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
	return f.row(n), true
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
		}
	}
	r := f.row(n)
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
// be ignored.
func checkHeader(header []string) ([]string, error) {
	known := map[string]bool{}
	for _, c := range Columns {
		known[c] = true
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		n := strings.ToLower(strings.TrimSpace(h))
		switch {
		case strings.HasPrefix(n, "eyj"):
			return nil, &HeaderError{fmt.Sprintf("column %d of the first line looks like a token: a CSV manifest's first line must name its columns: %s", i+1, strings.Join(Columns, ", "))}
		case n == "":
			return nil, &HeaderError{fmt.Sprintf("column %d has no name; the columns are: %s", i+1, strings.Join(Columns, ", "))}
		case !known[n]:
			return nil, &HeaderError{fmt.Sprintf("unknown column %q (column %d); the columns are: %s", clipName(h), i+1, strings.Join(Columns, ", "))}
		case seen[n]:
			return nil, &HeaderError{fmt.Sprintf("column %q appears twice", n)}
		}
		seen[n] = true
		names[i] = n
	}
	if !seen["access_token"] {
		return nil, &HeaderError{"no access_token column; the columns are: " + strings.Join(Columns, ", ")}
	}
	return names, nil
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
}

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
	if ok {
		m.n++
	}
	return row, ok, nil
}

func (m *lineManifest) byLine() *lineManifest { return m }

// JSONL reads a JSON Lines manifest, one object per non-blank line.
type JSONL struct{ lineManifest }

// ReadJSONL returns a reader for a JSON Lines manifest.
func ReadJSONL(r io.Reader) *JSONL {
	return &JSONL{lineManifest{lines: newLineReader(r), parser: jsonParser{}}}
}

type jsonParser struct{}

func (jsonParser) fresh() (lineParser, error) { return jsonParser{}, nil }

func (jsonParser) parse(n, line int, text []byte) (Row, bool) {
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return Row{}, false
	}
	return parseJSONLine(n, line, text), true
}

// apiFactor is one MFA block of the API's input shape.
type apiFactor struct {
	Enabled      json.RawMessage
	PreferredMfa json.RawMessage
}

// jsonRow holds both JSON shapes: the manifest's columns and the API's own
// input (as in files for aws ... --cli-input-json).
type jsonRow struct {
	ID                     json.RawMessage `json:"id"`
	AccessTokenColumn      *string         `json:"access_token"`
	SMSEnabled             json.RawMessage `json:"sms_enabled"`
	SMSPreferred           json.RawMessage `json:"sms_preferred"`
	SoftwareTokenEnabled   json.RawMessage `json:"software_token_enabled"`
	SoftwareTokenPreferred json.RawMessage `json:"software_token_preferred"`
	EmailEnabled           json.RawMessage `json:"email_enabled"`
	EmailPreferred         json.RawMessage `json:"email_preferred"`
	WebAuthnEnabled        json.RawMessage `json:"webauthn_enabled"`

	AccessToken              *string    `json:"AccessToken"`
	SMSMfaSettings           *apiFactor `json:"SMSMfaSettings"`
	SoftwareTokenMfaSettings *apiFactor `json:"SoftwareTokenMfaSettings"`
	EmailMfaSettings         *apiFactor `json:"EmailMfaSettings"`
	WebAuthnMfaSettings      *apiFactor `json:"WebAuthnMfaSettings"`
}

// parseJSONLine reads one JSONL row, in either shape.
func parseJSONLine(n, line int, b []byte) Row {
	r := Row{N: n}
	j, err := decodeJSONLine(line, b, &r.ID)
	if err != nil {
		r.Err = err
		return r
	}
	var cells []jsonCell
	if j.api() {
		if j.AccessToken != nil {
			r.Token = Token(strings.TrimSpace(*j.AccessToken))
		}
		cells, r.Err = j.apiCells(line, &r.Settings)
	} else {
		if j.AccessTokenColumn != nil {
			r.Token = Token(strings.TrimSpace(*j.AccessTokenColumn))
		}
		cells = j.flatCells(&r.Settings)
	}
	for _, c := range cells {
		if r.Err != nil || isNull(c.raw) {
			continue
		}
		v, err := jsonBool(c.raw)
		if err != nil {
			r.Err = rowErr(CodeInvalidBoolean, "line %d: key %s: %q is %v", line, c.key, clip(jsonText(c.raw)), err)
			continue
		}
		*c.dst = v
	}
	return r
}

// decodeJSONLine decodes a line into a jsonRow and reads its id into id,
// which a line that cannot be decoded still gives where it can.
func decodeJSONLine(line int, b []byte, id *string) (*jsonRow, *RowError) {
	if b[0] != '{' {
		return nil, rowErr(CodeInvalidRow, "line %d is not a JSON object", line)
	}
	var j jsonRow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		var only struct{ ID json.RawMessage }
		if json.Unmarshal(b, &only) == nil {
			if v, err := jsonID(only.ID); err == nil && checkID(&v) == nil {
				*id = v
			}
		}
		return nil, rowErr(CodeInvalidRow, "line %d: %s", line, jsonProblem(err))
	}
	if dec.More() {
		return nil, rowErr(CodeInvalidRow, "line %d: more than one JSON value on the line", line)
	}
	v, err := jsonID(j.ID)
	if err != nil {
		return nil, rowErr(CodeInvalidRow, "line %d: key id: %v", line, err)
	}
	*id = v
	if rerr := checkID(id); rerr != nil {
		return nil, rerr
	}
	if j.flat() && j.api() {
		return nil, rowErr(CodeInvalidRow, "line %d mixes manifest keys (access_token, sms_enabled, ...) with API keys (AccessToken, SMSMfaSettings, ...): use one shape", line)
	}
	return &j, nil
}

// flat reports whether the row has any of the manifest's keys.
func (j *jsonRow) flat() bool {
	return j.AccessTokenColumn != nil || j.SMSEnabled != nil || j.SMSPreferred != nil ||
		j.SoftwareTokenEnabled != nil || j.SoftwareTokenPreferred != nil ||
		j.EmailEnabled != nil || j.EmailPreferred != nil || j.WebAuthnEnabled != nil
}

// api reports whether the row has any of the API's keys.
func (j *jsonRow) api() bool {
	return j.AccessToken != nil || j.SMSMfaSettings != nil || j.SoftwareTokenMfaSettings != nil ||
		j.EmailMfaSettings != nil || j.WebAuthnMfaSettings != nil
}

// flatCells are the manifest keys' values and where each goes in s.
func (j *jsonRow) flatCells(s *Settings) []jsonCell {
	return []jsonCell{
		{"sms_enabled", j.SMSEnabled, &s.SMS.Enabled},
		{"sms_preferred", j.SMSPreferred, &s.SMS.Preferred},
		{"software_token_enabled", j.SoftwareTokenEnabled, &s.SoftwareToken.Enabled},
		{"software_token_preferred", j.SoftwareTokenPreferred, &s.SoftwareToken.Preferred},
		{"email_enabled", j.EmailEnabled, &s.Email.Enabled},
		{"email_preferred", j.EmailPreferred, &s.Email.Preferred},
		{"webauthn_enabled", j.WebAuthnEnabled, &s.WebAuthn.Enabled},
	}
}

// apiCells are the API blocks' values and where each goes in s. A block
// that is present is sent even when it is {}.
func (j *jsonRow) apiCells(line int, s *Settings) ([]jsonCell, *RowError) {
	blocks := []struct {
		name string
		f    *apiFactor
		dst  *Factor
	}{
		{"SMSMfaSettings", j.SMSMfaSettings, &s.SMS},
		{"SoftwareTokenMfaSettings", j.SoftwareTokenMfaSettings, &s.SoftwareToken},
		{"EmailMfaSettings", j.EmailMfaSettings, &s.Email},
		{"WebAuthnMfaSettings", j.WebAuthnMfaSettings, &s.WebAuthn},
	}
	var cells []jsonCell
	for _, bl := range blocks {
		if bl.f == nil {
			continue
		}
		if bl.name == "WebAuthnMfaSettings" && bl.f.PreferredMfa != nil {
			return nil, rowErr(CodeInvalidRow, "line %d: WebAuthnMfaSettings takes Enabled only", line)
		}
		cells = append(cells,
			jsonCell{bl.name + ".Enabled", bl.f.Enabled, &bl.dst.Enabled},
			jsonCell{bl.name + ".PreferredMfa", bl.f.PreferredMfa, &bl.dst.Preferred})
		if isNull(bl.f.Enabled) {
			bl.dst.Enabled = False
		}
	}
	return cells, nil
}

type jsonCell struct {
	key string
	raw json.RawMessage
	dst *Bool
}

// jsonText is a JSON value as a person wrote it: a string's contents, or
// the value's text.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func isNull(raw json.RawMessage) bool {
	return raw == nil || string(raw) == "null"
}

// jsonBool reads a JSON boolean or one of the strings ParseBool reads.
func jsonBool(raw json.RawMessage) (Bool, error) {
	switch string(raw) {
	case "true":
		return True, nil
	case "false":
		return False, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return Unset, ErrBadBool
	}
	return ParseBool(s)
}

// jsonID reads an id given as a string or a number.
func jsonID(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", errors.New("want a string or a number")
}

// jsonProblem words a decoding error without quoting the line, which may
// hold a token.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("key %s: want a %s, not a %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: the object is cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fmt.Sprintf("unknown key %q; the keys are %s, or the API's AccessToken, SMSMfaSettings, SoftwareTokenMfaSettings, EmailMfaSettings, WebAuthnMfaSettings", clipName(key), strings.Join(Columns, ", "))
	}
	return "not a JSON object"
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "struct":
		return "object"
	case "slice":
		return "JSON value"
	}
	return k
}
