package main

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// yamlMemory is the memory measure's dry run over a YAML document stream
// of a million rows: the stream is read one document at a time, so its
// peak RSS has the same bound as the CSV's. Its rows/s are shown, not
// judged: YAML parsing costs several times a CSV line.
func (b *bench) yamlMemory() []row {
	const n = 1_000_000
	name := "memory: dry run, 1,000,000-document YAML stream"
	progress("  writing a 1,000,000-document YAML manifest")
	path := filepath.Join(b.dir, "stream.yaml")
	if err := writeYAMLManifest(path, n, b.tokens); err != nil {
		return []row{errorRow(name, fmt.Errorf("writing the manifest: %w", err))}
	}
	defer b.remove(path, reportPath(path))
	progress("  dry run")
	u, err := b.runTool("", path, "--dry-run", "--rps", "0")
	if err != nil {
		return []row{errorRow(name, err)}
	}
	return []row{
		{name + ", peak RSS", mib(u.maxRSS), "≤ " + mib(maxRSS), check(u.maxRSS <= maxRSS)},
		{name + ", rows/s", fmt.Sprintf("%s (%.2f s, %.2f s CPU)", commas(int(n/u.wall.Seconds())), u.wall.Seconds(), u.cpu.Seconds()), "", info},
	}
}

// writeYAMLManifest writes the rows writeManifest writes as a stream of n
// YAML documents, one a row, readable by its owner only.
func writeYAMLManifest(path string, n int, m *tokenMaker) error {
	return writeLines(path, "", n, func(doc []byte, i int) []byte {
		doc = append(doc, "---\nid: u"...)
		doc = strconv.AppendInt(doc, int64(i), 10)
		doc = append(doc, "\naccess_token: "...)
		doc = m.appendToken(doc, i)
		return append(doc, "\nsoftware_token_enabled: true\nsoftware_token_preferred: true\n"...)
	})
}
