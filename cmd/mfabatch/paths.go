package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fileRole is a file a run reads or writes, as the person named it.
type fileRole struct {
	flag string   // "", "report", "resume", "summary", "metrics-file"; "" is the manifest
	path string   // "-" for standard input or output
	file *os.File // standard input or output, when path is "-"
}

// says is how a message names the role's file: "--summary s.json".
func (r fileRole) says() string {
	switch {
	case r.flag == "":
		return "the manifest"
	case r.path == "-":
		return "standard output (the " + r.flag + ")"
	}
	return "--" + r.flag + " " + r.path
}

// is is how a message names the role's file as the one another is.
func (r fileRole) is() string {
	switch {
	case r.flag == "" && r.path == "-":
		return "the manifest itself, read from standard input"
	case r.flag == "":
		return "the manifest itself"
	case r.flag == "resume":
		return "the earlier report itself (--resume " + r.path + ")"
	case r.path == "-":
		return "the report itself, on standard output"
	}
	return "the " + r.flag + " itself (--" + r.flag + " " + r.path + ")"
}

// checkPaths refuses, before anything is read or sent, two roles on one
// file, which would overwrite an input or an output with another: the
// manifest (through standard input too), the report, the earlier report,
// the summary and the metrics file. --resume and --report may share a file: the earlier
// report is read before the new one is written. Symbolic and hard links
// are seen through; devices and pipes are not files to overwrite.
func checkPaths(f *runFlags, manifest string, stdin io.Reader, stdout io.Writer) error {
	in, _ := stdin.(*os.File)
	out, _ := stdout.(*os.File)
	return checkRoles(f, []fileRole{
		{"", manifest, in},
		{"report", f.reportPath, out},
		{"resume", f.resume, nil},
		{"summary", f.summaryPath, nil},
		{"metrics-file", f.metricsFile, nil},
	})
}

// checkRoles refuses two of roles on one file, as checkPaths says.
func checkRoles(f *runFlags, roles []fileRole) error {
	if err := checkS3Paths(f, roles); err != nil {
		return err
	}
	ids := make([]fileID, len(roles))
	for i, r := range roles {
		ids[i] = identify(r)
	}
	for i, a := range roles {
		for j, b := range roles[:i] {
			if a.flag == "resume" && b.flag == "report" || !ids[i].same(ids[j]) {
				continue
			}
			hint := "write the " + strings.TrimSuffix(a.flag, "-file") + " to another file"
			if a.flag == "resume" {
				hint = "give --resume the report of the earlier run"
			}
			return usageError{a.says() + " is " + b.is(), hint}
		}
	}
	return nil
}

// fileID is what a path names: a file, or, where none is yet, a name in
// a folder. The zero value is a path that names nothing to compare.
type fileID struct {
	file   os.FileInfo
	dir    os.FileInfo
	base   string
	object string // an S3 object's bucket/key
}

// maxLinks bounds the symbolic links followed to a file not yet made.
const maxLinks = 40

func identify(r fileRole) fileID {
	switch {
	case r.path == "":
		return fileID{}
	case isS3(r.path):
		p, _ := parseS3(r.path, "")
		return fileID{object: p.bucket + "/" + p.key}
	case r.path == "-":
		if r.file == nil {
			return fileID{}
		}
		fi, err := r.file.Stat()
		if err != nil {
			return fileID{}
		}
		return fileID{file: fi}
	}
	p := r.path
	for range maxLinks {
		fi, err := os.Stat(p)
		if err == nil {
			return fileID{file: fi}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fileID{}
		}
		// A link to a file not yet made names that file.
		if target, err := os.Readlink(p); err == nil {
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			p = target
			continue
		}
		dir, err := os.Stat(filepath.Dir(p))
		if err != nil {
			return fileID{}
		}
		return fileID{dir: dir, base: filepath.Base(p)}
	}
	return fileID{}
}

// same reports whether a and b name one regular file, or one file to be
// made.
func (a fileID) same(b fileID) bool {
	switch {
	case a.object != "" || b.object != "":
		return a.object == b.object
	case a.file != nil && b.file != nil:
		return a.file.Mode().IsRegular() && os.SameFile(a.file, b.file)
	case a.dir != nil && b.dir != nil:
		return a.base == b.base && os.SameFile(a.dir, b.dir)
	}
	return false
}
