package batch

import (
	"encoding/json"
	"strconv"
	"strings"
)

// payloadClaims are the JWT payload claims the tool reads. iss, tokenUse
// and scope may view the scanned bytes: use them before the next scan.
type payloadClaims struct {
	sub, username        string
	iss, tokenUse, scope []byte
	hasScope             bool // a scope claim, null aside, was present
	exp                  *float64
}

// scanClaims reads payloadClaims from a JWT payload. It accepts exactly
// the JSON objects encoding/json would decode into these fields (keys
// matched without regard to case, the last of repeated keys winning), and
// gives the same values; it is a fast path for what is most of a row's
// work, checked against encoding/json by FuzzScanClaims.
func scanClaims(b []byte, c *payloadClaims) bool {
	s := scanner{b: b}
	s.ws()
	if !s.object(c) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads the top-level object, keeping the claims c wants.
func (s *scanner) object(c *payloadClaims) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	return s.members(func(key []byte, plain bool) bool { return s.claim(keyName(key, plain), c) })
}

// members reads an object's members, its '{' read, up to its '}': each
// key (plain as raw says), then member to read the value.
func (s *scanner) members(member func(key []byte, plain bool) bool) bool {
	return s.list('}', func() bool {
		key, plain, ok := s.raw()
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		return member(key, plain)
	})
}

// list reads comma-separated items up to end, its opening read.
func (s *scanner) list(end byte, item func() bool) bool {
	s.ws()
	if s.peek() == end {
		s.i++
		return true
	}
	for {
		s.ws()
		if !item() {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case end:
			s.i++
			return true
		default:
			return false
		}
	}
}

// claim reads the value of the member named key (see keyName) into c
// when c wants it.
func (s *scanner) claim(key string, c *payloadClaims) bool {
	var dst *string
	var view *[]byte
	switch {
	case key == "":
		return s.value()
	case strings.EqualFold(key, "iss"):
		view = &c.iss
	case strings.EqualFold(key, "sub"):
		dst = &c.sub
	case strings.EqualFold(key, "username"):
		dst = &c.username
	case strings.EqualFold(key, "token_use"):
		view = &c.tokenUse
	case strings.EqualFold(key, "scope"):
		if s.null() {
			c.scope, c.hasScope = nil, false
			return true
		}
		v, ok := s.bytes()
		c.scope, c.hasScope = v, true
		return ok
	case strings.EqualFold(key, "exp"):
		if s.null() {
			c.exp = nil
			return true
		}
		start := s.i
		if !s.number() {
			return false
		}
		f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
		c.exp = &f
		return err == nil
	default:
		return s.value()
	}
	if s.null() {
		return true // null leaves a string as it was, as in encoding/json
	}
	if view != nil {
		v, ok := s.bytes()
		*view = v
		return ok
	}
	v, ok := s.str()
	*dst = v
	return ok
}

// null reads a null, if one is next.
func (s *scanner) null() bool {
	if strings.HasPrefix(string(s.b[s.i:min(s.i+4, len(s.b))]), "null") {
		s.i += 4
		return true
	}
	return false
}

// value reads and checks any JSON value.
func (s *scanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.raw()
		return ok
	case c == '{' || c == '[':
		return s.nested()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(string(s.b[s.i:min(s.i+len(lit), len(s.b))]), lit) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// nested reads and checks an object or array the tool does not use.
func (s *scanner) nested() bool {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth >= maxDepth {
		return false
	}
	open := s.b[s.i]
	s.i++
	if open == '{' {
		return s.members(func([]byte, bool) bool { return s.value() })
	}
	return s.list(']', s.value)
}

// number reads and checks a JSON number.
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// claimKeys are the keys claim keeps, in the forms keyName returns.
var claimKeys = []string{"iss", "sub", "username", "token_use", "scope", "exp"}

// keyName is the claim a raw key (quotes included, plain as raw says)
// names, or "" for any other key; matching ignores case, as
// encoding/json's does.
func keyName(raw []byte, plain bool) string {
	if plain {
		if len(raw) > 2+len("token_use") {
			return ""
		}
		for _, k := range claimKeys {
			if len(raw) == len(k)+2 && strings.EqualFold(string(raw[1:len(raw)-1]), k) {
				return k
			}
		}
		return ""
	}
	// An escaped or non-ASCII key: decode it to compare, as encoding/json
	// does (it folds case, Unicode included).
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return ""
	}
	for _, name := range claimKeys {
		if strings.EqualFold(k, name) {
			return name
		}
	}
	return ""
}

// str reads and checks a JSON string and returns its value.
func (s *scanner) str() (string, bool) {
	raw, plain, ok := s.raw()
	if !ok {
		return "", false
	}
	if plain {
		return string(raw[1 : len(raw)-1]), true
	}
	// Escapes and non-ASCII go through encoding/json, for its exact
	// handling of escapes and bad UTF-8.
	var v string
	return v, json.Unmarshal(raw, &v) == nil
}

// bytes reads a JSON string's value like str, as a view of the scanned
// bytes when it has no escapes or non-ASCII, so nothing is copied.
func (s *scanner) bytes() ([]byte, bool) {
	raw, plain, ok := s.raw()
	if !ok {
		return nil, false
	}
	if plain {
		return raw[1 : len(raw)-1], true
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return []byte(v), err == nil
}

// strStop marks the bytes that end a run of plain characters in a JSON
// string: the closing quote, a backslash, control characters and
// non-ASCII.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// raw reads and checks a JSON string, returning it as written, quotes
// included, without copying. plain means it has no escapes and no
// non-ASCII bytes, so its value is the bytes between the quotes.
func (s *scanner) raw() (raw []byte, plain, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	b := s.b
	start := s.i
	plain = true
	i := s.i + 1
	for i < len(b) {
		c := b[i]
		if !strStop[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:s.i], plain, true
		case c >= 0x80:
			plain = false
			i++
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					return nil, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				i += 5
			default:
				return nil, false, false
			}
		default: // a control character
			return nil, false, false
		}
	}
	return nil, false, false
}
