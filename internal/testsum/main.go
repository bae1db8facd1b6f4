// Command testsum reads `go test -json` on standard input and prints what
// `go test` prints without -v, plus one line for every skipped test with
// its reason, so that `make test` says which end-to-end tests did not run
// and why. It ends with a line "N passed, N failed, N skipped" and exits 1
// when anything failed or no test ran.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var passed, failed, skipped int
	var skips []string
	broken := false
	logs := map[string][]string{} // a test's output, kept until it ends
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Fprintln(out, sc.Text()) // not JSON: a build error, say
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(out, e.Output)
		case e.Action == "build-fail":
			broken = true
		case e.Test == "" && e.Action == "output":
			if pkgLine(e.Output) {
				fmt.Fprint(out, e.Output)
			} else {
				logs[key] = append(logs[key], e.Output)
			}
		case e.Test == "" && e.Action == "skip":
			// A package with no test files.
		case e.Test == "" && e.Action == "fail":
			broken = true
			fmt.Fprint(out, strings.Join(logs[key], ""))
		case e.Action == "output":
			logs[key] = append(logs[key], e.Output)
		case e.Action == "pass":
			passed++
			delete(logs, key)
		case e.Action == "fail":
			failed++
			fmt.Fprint(out, strings.Join(logs[key], ""))
			delete(logs, key)
		case e.Action == "skip":
			skipped++
			skips = append(skips, fmt.Sprintf("SKIP %s %s: %s", e.Package, e.Test, reason(logs[key])))
			delete(logs, key)
		}
	}
	for _, s := range skips {
		fmt.Fprintln(out, s)
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || broken || passed == 0 || sc.Err() != nil {
		return 1
	}
	return 0
}

// pkgLine reports the lines `go test` prints for a package without -v.
func pkgLine(s string) bool {
	for _, p := range []string{"ok ", "ok\t", "FAIL", "?   ", "PASS"} {
		if strings.HasPrefix(s, p) {
			return p != "PASS"
		}
	}
	return false
}

// reason is what a skipped test said: the lines after its "--- SKIP".
func reason(lines []string) string {
	var said []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		// "file_test.go:12: why" reads better as "why".
		if i := strings.Index(l, ".go:"); i >= 0 {
			if j := strings.Index(l[i+4:], ": "); j >= 0 {
				l = l[i+4+j+2:]
			}
		}
		said = append(said, l)
	}
	if len(said) == 0 {
		return "no reason given"
	}
	return strings.Join(said, "; ")
}
