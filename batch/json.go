package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadJSON returns a reader for a JSON manifest as people write it: an
// array of input objects, one object (pretty-printed, as `skeleton input`
// prints it) or several one after another, or JSON Lines. A file whose
// first line is a whole JSON value is JSON Lines, read a line at a time,
// so that a bad line costs its own row; an array or pretty-printed JSON
// is read a value at a time with json.Decoder, and a syntax error ends
// it, as the decoder cannot find the next value after one. Each object
// goes through the JSON Lines row parser.
func ReadJSON(r io.Reader) Manifest {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		br.Discard(3)
	}
	first := firstLine(br)
	switch {
	case bytes.HasPrefix(first, []byte("[")):
		return newJSONValues(br, true)
	case bytes.HasPrefix(first, []byte("{")) && !json.Valid(first):
		return newJSONValues(br, false)
	}
	return ReadJSONLines(br)
}

// firstLine is the first non-blank line br holds, trimmed, without reading
// it; nil when it is longer than br's buffer.
func firstLine(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Size())
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if !ok && len(b) == br.Size() {
				return nil
			}
			return t
		}
		b = rest
	}
	return nil
}

// jsonValues reads JSON values one at a time: the elements of an array,
// or values one after another. It holds one value at a time, whatever the
// file's length.
type jsonValues struct {
	dec   *json.Decoder
	lines *lineCounter
	array bool // the values are one array's elements
	n     int  // rows read
	err   error
	mode  mode
}

// maxJSONValue bounds what the decoder may hold of one value before it is
// refused: a row is a few KiB, and MaxLineBytes at most.
const maxJSONValue = 4 * MaxLineBytes

func newJSONValues(r io.Reader, array bool) *jsonValues {
	lines := &lineCounter{r: r}
	m := &jsonValues{dec: json.NewDecoder(lines), lines: lines, array: array}
	if array {
		if _, err := m.dec.Token(); err != nil {
			m.err = m.fail(err)
		}
	}
	return m
}

// Next returns the next row.
func (m *jsonValues) Next() (Row, error) {
	if m.err != nil {
		return Row{}, m.err
	}
	if !m.dec.More() {
		m.err = m.end()
		return Row{}, m.err
	}
	var raw json.RawMessage
	if err := m.dec.Decode(&raw); err != nil {
		m.err = m.fail(err)
		return Row{}, m.err
	}
	line := m.lines.at(m.dec.InputOffset() - int64(len(raw)))
	m.n++
	if len(raw) > MaxLineBytes {
		return Row{N: m.n, Err: rowErr(CodeInvalidRow, "line %d: the object is longer than %d bytes", line, MaxLineBytes)}, nil
	}
	row := parseJSONLine(m.n, line, raw)
	if err := m.mode.keep(&row, line); err != nil {
		m.err = err
		return Row{}, err
	}
	return row, nil
}

// end checks what follows the last value: the array's end, then nothing.
func (m *jsonValues) end() error {
	tok, err := m.dec.Token()
	if m.array {
		if err == io.EOF {
			return m.fail(io.ErrUnexpectedEOF) // no ] at the end
		}
		if err == nil && tok == json.Delim(']') {
			tok, err = m.dec.Token()
		}
	}
	switch {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return m.fail(err)
	case m.array:
		return fmt.Errorf("manifest line %d: more JSON after the array's end: a JSON manifest holds one array", m.lines.at(m.dec.InputOffset()))
	}
	return fmt.Errorf("manifest line %d: %v where an object should start", m.lines.at(m.dec.InputOffset()), tok)
}

// fail words a decoding error, which ends the manifest: the decoder cannot
// find the next value after one.
func (m *jsonValues) fail(err error) error {
	var syn *json.SyntaxError
	off := m.dec.InputOffset()
	what := "not valid JSON"
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.Is(err, errValueTooLong):
		what = fmt.Sprintf("a value longer than %d MiB", maxJSONValue>>20)
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF:
		off, what = -1, "the JSON is cut short: the file ends before its last value does"
	default:
		return fmt.Errorf("manifest: %w", err) // the file could not be read
	}
	var line int
	if off >= 0 {
		line = m.lines.at(off)
	} else {
		line = m.lines.last()
	}
	return fmt.Errorf("manifest line %d: %s, and a JSON document cannot be read past it: mend it, or write the manifest as JSON Lines (one object a line, where a bad line costs only its row)", line, what)
}

// errValueTooLong is a JSON value longer than maxJSONValue.
var errValueTooLong = errors.New("manifest: a JSON value is too long")

// lineCounter reads r for a json.Decoder, keeping what it read from the
// last offset asked about, so that it can tell the line of a later one.
type lineCounter struct {
	r     io.Reader
	held  []byte // held[done:] was read from base on
	done  int
	base  int64
	lines int // newlines before base
}

func (c *lineCounter) Read(p []byte) (int, error) {
	room := maxJSONValue - (len(c.held) - c.done)
	if room <= 0 {
		return 0, errValueTooLong
	}
	if c.done > len(c.held)/2 {
		c.held, c.done = append(c.held[:0], c.held[c.done:]...), 0
	}
	n, err := c.r.Read(p[:min(len(p), room)])
	c.held = append(c.held, p[:n]...)
	return n, err
}

// at returns the line of offset off, at or after the last offset asked
// about, and forgets what was read before it.
func (c *lineCounter) at(off int64) int {
	k := int(min(max(off-c.base, 0), int64(len(c.held)-c.done)))
	c.lines += bytes.Count(c.held[c.done:c.done+k], []byte("\n"))
	c.done += k
	c.base += int64(k)
	return c.lines + 1
}

// last returns the line of the last byte read.
func (c *lineCounter) last() int {
	trailing := len(c.held) > c.done && c.held[len(c.held)-1] == '\n'
	n := c.at(c.base + int64(len(c.held)-c.done))
	if trailing {
		n--
	}
	return n
}

// PrettyJSONError is a pretty-printed JSON object in a JSON Lines
// manifest, which holds one whole object a line.
type PrettyJSONError struct {
	Line int
	Text string // what the line holds: { or [
}

func (e *PrettyJSONError) Error() string {
	return fmt.Sprintf("manifest line %d holds only %q: this is pretty-printed JSON, and JSON Lines holds one whole object a line", e.Line, e.Text)
}

// ReadJSONLines is ReadJSONL for manifests people write: a line holding
// only "{" or "[", which no JSON Lines row is, ends it with a
// *PrettyJSONError rather than making each line of a pretty-printed object
// an invalid row of its own.
func ReadJSONLines(r io.Reader) Manifest {
	m := ReadJSONL(r)
	p := &prettyCheck{lineParser: m.parser}
	m.parser = p
	return &jsonLines{JSONL: m, check: p}
}

type jsonLines struct {
	*JSONL
	check *prettyCheck
}

// Next returns the next row, or the PrettyJSONError for a line of a
// pretty-printed object.
func (m *jsonLines) Next() (Row, error) {
	row, err := m.JSONL.Next()
	if m.check.found != nil {
		return Row{}, m.check.found
	}
	return row, err
}

// prettyCheck is the JSON Lines parser, which notes a line holding only
// the start of a pretty-printed object or array.
type prettyCheck struct {
	lineParser
	found *PrettyJSONError
}

func (p *prettyCheck) parse(n, line int, text []byte) (Row, bool) {
	if t := bytes.TrimSpace(text); p.found == nil && (string(t) == "{" || string(t) == "[") {
		p.found = &PrettyJSONError{Line: line, Text: string(t)}
		return Row{}, false
	}
	return p.lineParser.parse(n, line, text)
}
