package batch

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxYAMLDocBytes bounds one YAML document, which is parsed whole: a
// document of one row is a few KiB, and a sequence this long holds some
// thousands of rows. A longer manifest is written as a stream of
// documents, which is read one document at a time.
const MaxYAMLDocBytes = 8 << 20

// maxYAMLDepth bounds how deep a row's values nest: a row is two deep,
// and an alias may make a node its own descendant.
const maxYAMLDepth = 32

// YAML reads a YAML manifest, as the AWS CLI's --cli-input-yaml reads its
// input: a stream of documents ("---" between them), each a mapping that
// is one row, or a sequence of such mappings. Each mapping is turned into
// JSON and read by the JSON Lines row parser, so the keys, the values they
// take and the errors are the same in both.
type YAML struct {
	docs *docReader
	n    int          // rows read
	seq  []*yaml.Node // rows of the current sequence document not yet read
	base int          // the file's line before the current document's first
	line int          // the line of the row last read
	json yamlJSON     // a row as JSON, its buffer kept from row to row
	mode mode
}

// ReadYAML returns a reader for a YAML manifest.
func ReadYAML(r io.Reader) *YAML {
	return &YAML{docs: &docReader{lines: newLineReader(r)}}
}

// Next returns the next row. A document that cannot be parsed is one
// invalid row, and reading goes on at the next document.
func (m *YAML) Next() (Row, error) {
	row, err := m.next()
	if err == nil {
		err = m.mode.keep(&row, m.line)
	}
	return row, err
}

func (m *YAML) next() (Row, error) {
	for {
		if len(m.seq) > 0 {
			node := m.seq[0]
			m.seq = m.seq[1:]
			return m.row(node), nil
		}
		doc, err := m.docs.next()
		if err != nil {
			return Row{}, err
		}
		if row, ok := m.document(doc); ok {
			return row, nil
		}
	}
}

// document reads the rows of doc: it returns the first, or ok false when
// doc holds none (it is empty, null or an empty sequence).
func (m *YAML) document(doc yamlDoc) (row Row, ok bool) {
	m.base = doc.line - 1
	if doc.problem != "" {
		return m.invalid(doc.problem), true
	}
	dec := yaml.NewDecoder(bytes.NewReader(doc.text))
	var root yaml.Node
	switch err := dec.Decode(&root); {
	case err == io.EOF:
		return Row{}, false
	case err != nil:
		return m.invalid(yamlProblem(err, m.base, doc.text)), true
	}
	// The document ends where YAML says one does, so a second one here
	// is a document start the split did not see (a lone CR before "---").
	var more yaml.Node
	if dec.Decode(&more) != io.EOF {
		return m.invalid(fmt.Sprintf("line %d: the document holds another after it: start each document with --- at the start of a line", doc.line)), true
	}
	body := root.Content[0]
	switch {
	case body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null":
		return Row{}, false
	case body.Kind == yaml.SequenceNode:
		m.seq = body.Content // Next reads them
		return Row{}, false
	}
	return m.row(body), true
}

// row reads one row from node, a mapping of the JSON Lines keys.
func (m *YAML) row(node *yaml.Node) Row {
	line := m.base + node.Line
	m.line = line
	j := &m.json
	j.buf = j.buf[:0]
	if target := resolve(node); target.Kind != yaml.MappingNode {
		return m.invalid(fmt.Sprintf("line %d: a row is a mapping of keys to values (access_token: ...), not %s", line, yamlKind(target)))
	}
	if err := j.value(node, 0, m.base); err != nil {
		return m.invalid(err.Error())
	}
	m.n++
	return parseJSONLine(m.n, line, j.buf)
}

// invalid is the next row, which cannot be read for the reason given.
func (m *YAML) invalid(why string) Row {
	m.n++
	return Row{N: m.n, Err: rowErr(CodeInvalidRow, "%s", why)}
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxYAMLDepth; i++ {
		n = n.Alias
	}
	return n
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "an alias to nothing"
}

// yamlJSON writes a YAML node as JSON.
type yamlJSON struct{ buf []byte }

// value appends n as JSON; base is the file's line before the document's
// first, for messages.
func (j *yamlJSON) value(n *yaml.Node, depth, base int) error {
	line := base + n.Line
	if depth > maxYAMLDepth {
		return fmt.Errorf("line %d: values nest more than %d deep", line, maxYAMLDepth)
	}
	if len(j.buf) > MaxLineBytes {
		return fmt.Errorf("line %d: the row is longer than %d bytes once its aliases are expanded", line, MaxLineBytes)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("line %d: an alias to nothing", line)
		}
		return j.value(n.Alias, depth+1, base)
	case yaml.MappingNode:
		return j.mapping(n, depth, base)
	case yaml.SequenceNode:
		j.buf = append(j.buf, '[')
		for i, c := range n.Content {
			if i > 0 {
				j.buf = append(j.buf, ',')
			}
			if err := j.value(c, depth+1, base); err != nil {
				return err
			}
		}
		j.buf = append(j.buf, ']')
		return nil
	case yaml.ScalarNode:
		j.buf = appendScalar(j.buf, n)
		return nil
	}
	return fmt.Errorf("line %d: a value YAML cannot read", line)
}

// mapping appends n, a mapping, as a JSON object. Its keys are names, each
// once: YAML forbids a key twice, and JSON would keep the last silently.
func (j *yamlJSON) mapping(n *yaml.Node, depth, base int) error {
	j.buf = append(j.buf, '{')
	var seen []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a key is %s, not a name", base+k.Line, yamlKind(resolve(k)))
		}
		for _, s := range seen {
			if s == k.Value {
				return fmt.Errorf("line %d: key %q is given twice", base+k.Line, clipName(k.Value))
			}
		}
		seen = append(seen, k.Value)
		if i > 0 {
			j.buf = append(j.buf, ',')
		}
		j.buf = appendJSONString(j.buf, k.Value)
		j.buf = append(j.buf, ':')
		if err := j.value(n.Content[i+1], depth+1, base); err != nil {
			return err
		}
	}
	j.buf = append(j.buf, '}')
	return nil
}

// appendScalar appends a scalar as JSON: null, a boolean, a number when
// JSON can say it, else the text as a string (so "yes" reaches the row
// parser as the string it reads as true).
func appendScalar(buf []byte, n *yaml.Node) []byte {
	switch n.ShortTag() {
	case "!!null":
		return append(buf, "null"...)
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return strconv.AppendBool(buf, b)
		}
	case "!!int", "!!float":
		if jsonNumber.MatchString(n.Value) {
			return append(buf, n.Value...)
		}
		var v any
		if n.Decode(&v) == nil {
			switch v := v.(type) {
			case int:
				return strconv.AppendInt(buf, int64(v), 10)
			case int64:
				return strconv.AppendInt(buf, v, 10)
			case uint64:
				return strconv.AppendUint(buf, v, 10)
			}
		}
	}
	return appendJSONString(buf, n.Value)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for _, c := range []byte(strings.ToValidUTF8(s, "\uFFFD")) {
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// jsonNumber is a number as JSON writes it.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// yamlLine is the line number at the start of the YAML library's messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// unknownAnchor is the library's message for an alias to no anchor.
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// yamlQuoted is a name the YAML library quotes in a message, such as an
// anchor: it may hold any text of the document.
var yamlQuoted = regexp.MustCompile("'[^']*'|`[^`]*`|\"[^\"]*\"")

// yamlProblem words the YAML library's error, its line counted in the
// file (base is the line before the document's first), each name it
// quotes clipped: a token must not reach a message.
func yamlProblem(err error, base int, text []byte) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := base + 1
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		// The library names no line: the alias's first use is it.
		if i := bytes.Index(text, []byte("*"+m[1])); i >= 0 {
			line += bytes.Count(text[:i], []byte("\n"))
		}
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = msg[len(m[0]):]
		if n, err := strconv.Atoi(m[1]); err == nil {
			line = base + n
			if parserProblem(msg) {
				line++ // the library counts its parser's lines from 0
			}
		}
	}
	msg = yamlQuoted.ReplaceAllStringFunc(msg, func(q string) string {
		return q[:1] + clip(q[1:len(q)-1]) + q[len(q)-1:]
	})
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(msg, "?"))
	return fmt.Sprintf("line %d: not valid YAML: %s", line, clip256(msg))
}

// parserProblem reports whether msg is from the YAML library's parser,
// whose line numbers count from 0 where its scanner's count from 1.
func parserProblem(msg string) bool {
	for _, p := range []string{"did not find expected ',' or", "did not find expected '-' indicator",
		"did not find expected <", "did not find expected key", "did not find expected node content",
		"found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// clip256 bounds a library's message.
func clip256(s string) string {
	if len(s) <= 256 {
		return s
	}
	return strings.ToValidUTF8(s[:256], "") + "..."
}

// docReader splits a YAML stream into its documents at the lines that
// start or end one ("---", "...") or hold a directive ("%YAML", "%TAG"):
// YAML lets no content start a line that way, so each document can be
// parsed alone. A document that cannot be parsed then costs itself alone,
// and only one document is held at a time.
type docReader struct {
	lines    *lineReader
	held     []byte // a line already read that starts the next document
	heldLine int
	hasHeld  bool
	done     bool
}

// yamlDoc is one document's text, from line on.
type yamlDoc struct {
	text    []byte
	line    int
	problem string // why the document cannot be read, when it cannot
	tooLong bool   // longer than MaxYAMLDocBytes: text holds none of it
}

// next returns the next document, or io.EOF after the last.
func (d *docReader) next() (yamlDoc, error) {
	if d.done {
		return yamlDoc{}, io.EOF
	}
	var doc yamlDoc
	started := false    // a line that is not a directive has begun the document
	directives := false // the document has directives
	add := func(text []byte, line int) {
		if doc.line == 0 {
			doc.line = line
		}
		switch {
		case doc.tooLong || doc.problem != "":
		case len(doc.text)+len(text)+1 > MaxYAMLDocBytes:
			doc.tooLong, doc.text = true, nil
		default:
			doc.text = append(append(doc.text, text...), '\n')
		}
	}
	if d.hasHeld {
		add(d.held, d.heldLine)
		d.hasHeld, started = false, true
	}
	for {
		text, tooLong, err := d.lines.next()
		switch {
		case err == io.EOF:
			d.done = true
			return d.finish(doc)
		case err != nil:
			return yamlDoc{}, err
		}
		line := d.lines.line
		if started && (marker(text, "---") || directive(text)) {
			d.held, d.heldLine, d.hasHeld = append(d.held[:0], text...), line, true
			return d.finish(doc)
		}
		if tooLong && doc.problem == "" {
			doc.problem = fmt.Sprintf("line %d is longer than %d bytes", line, MaxLineBytes)
		}
		add(text, line)
		if marker(text, "...") {
			return d.finish(doc)
		}
		// Directives belong to the "---" after them: comments between them
		// do not start the document. Elsewhere anything does, so that a
		// bad comment before "---" costs no document but its own.
		directives = directives || directive(text)
		started = started || marker(text, "---") || !directive(text) && !(directives && blankOrComment(text))
	}
}

// finish returns doc, or an error that ends the manifest when doc was too
// long to hold: it may be a sequence of many rows, none of which can be
// read or counted.
func (d *docReader) finish(doc yamlDoc) (yamlDoc, error) {
	if doc.tooLong {
		d.done = true
		return yamlDoc{}, fmt.Errorf("manifest line %d: a YAML document longer than %d MiB: write one row a document, with --- between them, which is read one document at a time", doc.line, MaxYAMLDocBytes>>20)
	}
	return doc, nil
}

// marker reports whether line is the document marker m ("---" or "..."),
// alone or before a space and more.
func marker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t')
}

// directive reports whether line is a YAML or TAG directive.
func directive(line []byte) bool {
	return bytes.HasPrefix(line, []byte("%YAML ")) || bytes.HasPrefix(line, []byte("%TAG "))
}

func blankOrComment(line []byte) bool {
	t := bytes.TrimLeft(line, " \t")
	return len(t) == 0 || t[0] == '#'
}
