package batch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
)

// ManifestWriter writes rows as a manifest this tool reads back the same:
// CSV with a header, or JSON Lines with the manifest's keys. Export and
// rollback write their manifests with it. Cells are written as they are,
// with no spreadsheet escaping, since the manifest readers undo none.
type ManifestWriter struct {
	out   io.Writer
	buf   bytes.Buffer
	csv   *csv.Writer // nil for JSON Lines
	enc   *json.Encoder
	admin bool
	cells []string
}

// Manifest formats a ManifestWriter writes.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// NewManifestWriter writes a manifest in format (FormatCSV or FormatJSONL)
// to w, by username and pool when admin, else by access token. A CSV
// manifest's header is written at once, so that an empty one still reads.
func NewManifestWriter(w io.Writer, format string, admin bool) (*ManifestWriter, error) {
	m := &ManifestWriter{out: w, admin: admin}
	switch format {
	case FormatCSV:
		m.csv = csv.NewWriter(&m.buf)
		header := Columns
		if admin {
			header = AdminColumns
		}
		if err := m.csv.Write(header); err != nil {
			return nil, err
		}
	case FormatJSONL:
		m.enc = json.NewEncoder(&m.buf)
		m.enc.SetEscapeHTML(false)
	default:
		return nil, fmt.Errorf("manifest format %q: want csv or jsonl", format)
	}
	return m, nil
}

// Write adds r: its id, whom it names, and the settings it sets. It holds
// the row until Flush, or until enough rows wait.
func (m *ManifestWriter) Write(r Row) error {
	var err error
	if m.csv != nil {
		err = m.writeCSV(r)
	} else {
		err = m.enc.Encode(manifestObject(r, m.admin))
	}
	if err != nil {
		return err
	}
	if m.buf.Len() >= 64<<10 {
		return m.Flush()
	}
	return nil
}

func (m *ManifestWriter) writeCSV(r Row) error {
	m.cells = m.cells[:0]
	if m.admin {
		m.cells = append(m.cells, r.ID, r.Username, r.UserPoolID)
	} else {
		m.cells = append(m.cells, r.ID, string(r.Token))
	}
	for _, f := range r.Settings.factors() {
		m.cells = append(m.cells, f.Enabled.cell(), f.Preferred.cell())
	}
	m.cells = m.cells[:len(m.cells)-1] // WebAuthn has no preferred column
	if err := m.csv.Write(m.cells); err != nil {
		return err
	}
	m.csv.Flush()
	return m.csv.Error()
}

// manifestObject is r as a JSON Lines manifest object, with the keys it sets.
func manifestObject(r Row, admin bool) map[string]any {
	obj := map[string]any{}
	if r.ID != "" {
		obj["id"] = r.ID
	}
	if admin {
		obj["username"] = r.Username
		if r.UserPoolID != "" {
			obj["user_pool_id"] = r.UserPoolID
		}
	} else {
		obj["access_token"] = string(r.Token)
	}
	for i, f := range r.Settings.factors() {
		if f.Enabled != Unset {
			obj[factorNames[i]+"_enabled"] = f.Enabled.value()
		}
		if f.Preferred != Unset {
			obj[factorNames[i]+"_preferred"] = f.Preferred.value()
		}
	}
	return obj
}

// Flush writes out every row written so far.
func (m *ManifestWriter) Flush() error {
	if m.csv != nil {
		m.csv.Flush()
		if err := m.csv.Error(); err != nil {
			return err
		}
	}
	_, err := m.out.Write(m.buf.Bytes())
	m.buf.Reset()
	return err
}

// cell is b as a manifest's CSV cell: "" when unset.
func (b Bool) cell() string {
	switch b {
	case True:
		return "true"
	case False:
		return "false"
	}
	return ""
}
