package batch_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
)

// What a ManifestWriter writes, the manifest readers read back the same,
// in both formats and both modes, blank fields included.
func TestManifestWriterRoundTrip(t *testing.T) {
	set := func(s string) batch.Settings {
		st, err := batch.ParseState(s)
		if err != nil {
			t.Fatal(err)
		}
		return st.Restore([]int{0, 1, 2})
	}
	partial := batch.Settings{SMS: batch.Factor{Enabled: batch.True}, WebAuthn: batch.Factor{Enabled: batch.False}}
	for _, admin := range []bool{true, false} {
		rows := []batch.Row{
			{ID: "a,1", Settings: set("sms,totp*")},
			{ID: "", Settings: set("none")},
			{ID: `"q"`, Settings: partial},
			{ID: "+1555", Settings: set("email*")},
		}
		for i := range rows {
			rows[i].N = i + 1
			if admin {
				rows[i].Admin, rows[i].Username, rows[i].UserPoolID = true, "+1555000"+string(rune('0'+i)), "eu-west-1_Pool1"
			} else {
				rows[i].Token = batch.Token("tok-" + string(rune('a'+i)))
			}
		}
		for _, format := range []string{batch.FormatCSV, batch.FormatJSONL} {
			var b bytes.Buffer
			w, err := batch.NewManifestWriter(&b, format, admin)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var m batch.Manifest
			if format == batch.FormatCSV {
				c, err := batch.ReadCSV(bytes.NewReader(b.Bytes()))
				if err != nil {
					t.Fatalf("admin %v %s: %v\n%s", admin, format, err, b.String())
				}
				m = c
			} else {
				m = batch.ReadJSONLines(bytes.NewReader(b.Bytes()))
			}
			for i := 0; ; i++ {
				got, err := m.Next()
				if err == io.EOF {
					if i != len(rows) {
						t.Errorf("admin %v %s: read %d rows, want %d", admin, format, i, len(rows))
					}
					break
				}
				if err != nil {
					t.Fatalf("admin %v %s: row %d: %v", admin, format, i+1, err)
				}
				want := rows[i]
				if got.Err != nil || got.ID != want.ID || got.Token != want.Token || got.Username != want.Username ||
					got.UserPoolID != want.UserPoolID || got.Settings != want.Settings {
					t.Errorf("admin %v %s: row %d reads back as %+v, want %+v", admin, format, i+1, got, want)
				}
			}
		}
	}
}

// An empty CSV manifest still has its header, so that it reads.
func TestManifestWriterEmpty(t *testing.T) {
	var b bytes.Buffer
	w, err := batch.NewManifestWriter(&b, batch.FormatCSV, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "id,username,user_pool_id,sms_enabled,sms_preferred,software_token_enabled,software_token_preferred,email_enabled,email_preferred,webauthn_enabled\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if _, err := batch.NewManifestWriter(&b, "yaml", true); err == nil {
		t.Error("a yaml manifest writer was made")
	}
}
