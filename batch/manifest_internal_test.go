package batch

import "testing"

// TestClipNameNeverQuotesATokenPiece: an unknown column or key is quoted
// whole when it reads as a name (a typo must be readable), never when it
// could be 16 characters of a token, as a header line read mid-stream is.
func TestClipNameNeverQuotesATokenPiece(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sms_enabeld", "sms_enabeld"},
		{"software_token_prefered", "software_token_prefered"},
		{"SOFTWARE_TOKEN_ENABLD", "SOFTWARE_TOKEN_ENABLD"},
		{"Phone", "Phone"},
		{"q-53ALmIzE4jlM7TF1mA", "q-53ALmIzE4j..."},
		{"SoftwareTokenMfaSetings", "SoftwareToke..."},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "abcdefghijkl..."},
	} {
		if got := clipName(tc.in); got != tc.want {
			t.Errorf("clipName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
