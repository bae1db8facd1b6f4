package batch

// Going on with an export that stopped: what its output already holds.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strings"
)

// Written is what an export's output holds: its whole rows, and which
// users they name. A last line cut short, with no newline (a write cut by
// a kill or a full disk), is not part of it.
type Written struct {
	Rows   int
	Size   int64 // bytes of the whole lines, the header included
	Header bool  // a CSV output's header is there

	seed  maphash.Seed
	users []uint64 // hashes of the usernames, sorted
}

// Has reports whether the output has a row for username. Users are kept
// as 64-bit hashes, 8 bytes each: the chance that a pool of a million
// users holds two names of one hash is about 1 in 37 million.
func (w *Written) Has(username string) bool {
	_, ok := slices.BinarySearch(w.users, maphash.String(w.seed, username))
	return ok
}

// ReadWritten reads an export's output in format (FormatCSV or
// FormatJSONL), line by line: the export writes a row a line, since
// usernames hold no spaces and ids are made one line.
func ReadWritten(r io.Reader, format string) (*Written, error) {
	if format != FormatCSV && format != FormatJSONL {
		return nil, fmt.Errorf("manifest format %q: want csv or jsonl", format)
	}
	w := &Written{seed: maphash.MakeSeed()}
	br := bufio.NewReader(r)
	header := strings.Join(AdminColumns, ",")
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a line with no newline is cut short
		}
		if err != nil {
			return nil, err
		}
		w.Size += int64(len(line))
		line = bytes.TrimSuffix(line, []byte("\n"))
		if format == FormatCSV && n == 1 {
			if string(line) != header {
				return nil, fmt.Errorf("line 1 is not the header of an export (%s)", header)
			}
			w.Header = true
			continue
		}
		name, err := writtenUser(line, format)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		w.users = append(w.users, maphash.String(w.seed, name))
		w.Rows++
	}
	slices.Sort(w.users)
	return w, nil
}

// usernameCell is where a CSV row of an export has its username.
var usernameCell = slices.Index(AdminColumns, "username")

// writtenUser is the username of an exported row.
func writtenUser(line []byte, format string) (string, error) {
	if format == FormatJSONL {
		var row struct {
			Username string `json:"username"`
		}
		if err := json.Unmarshal(line, &row); err != nil || row.Username == "" {
			return "", errors.New("not a row of an export: want a JSON object with a username")
		}
		return row.Username, nil
	}
	cells, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil || len(cells) != len(AdminColumns) || cells[usernameCell] == "" {
		return "", fmt.Errorf("not a row of an export: want %d cells with a username", len(AdminColumns))
	}
	return cells[usernameCell], nil
}

// ContinueManifest writes more rows of a manifest whose output already
// has its header, if it is CSV: as NewManifestWriter, with no header.
func ContinueManifest(w io.Writer, format string, admin bool) (*ManifestWriter, error) {
	m, err := NewManifestWriter(w, format, admin)
	if err != nil {
		return nil, err
	}
	if m.csv != nil {
		m.csv.Flush()
		m.buf.Reset()
	}
	return m, nil
}
