package main

// --metrics-file: the textfile collector's file, local or in S3.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// openFile checks --metrics-file: a regular file or none, in a folder the
// run can write a file in, since each write renames a new file over it.
// The time of the last success in the file there is kept.
func (m *metrics) openFile(labels prometheus.Labels) error {
	hint := "give --metrics-file a file in node_exporter's --collector.textfile.directory"
	switch {
	case m.file == "-":
		return usageError{"--metrics-file -: the metrics go to a file, renamed into place at each write", hint}
	}
	path, err := filepath.EvalSymlinks(m.file)
	if errors.Is(err, os.ErrNotExist) {
		path, err = m.file, nil
	}
	var fi os.FileInfo
	if err == nil {
		if fi, err = os.Stat(path); errors.Is(err, os.ErrNotExist) {
			fi, err = nil, nil
		}
	}
	if err == nil && fi != nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file: each write renames a new file over it")
	}
	if err == nil {
		err = canCreateIn(filepath.Dir(path))
	}
	if err != nil {
		return usageError{fmt.Sprintf("--metrics-file %s: %v", m.file, err), hint}
	}
	if !strings.HasSuffix(path, ".prom") {
		fmt.Fprintf(m.out, "mfabatch: warning: --metrics-file %s: node_exporter's textfile collector reads only files named *.prom\n", m.file)
	}
	m.path = path
	var old io.Reader
	if fh, err := os.Open(path); err == nil {
		defer fh.Close()
		old = fh
	}
	m.fileRegistry(labels, old)
	return nil
}

// openS3 checks an s3:// --metrics-file, where a batch job with no disk
// of its own keeps it: the object is written whole at each write (it is
// small), and the time of the last success in it is kept.
func (m *metrics) openS3(ctx context.Context, st *storage, labels prometheus.Labels) error {
	if _, _, err := st.open(ctx, m.file, "--metrics-file"); err != nil {
		return err
	}
	m.st = st
	var old io.Reader
	if r, err := openReport(ctx, st, m.file); err == nil {
		defer r.Close()
		old = r
	}
	m.fileRegistry(labels, old)
	return nil
}

// fileRegistry gathers the file's series, the last success in old (an
// earlier file, or nil) carried over.
func (m *metrics) fileRegistry(labels prometheus.Labels, old io.Reader) {
	m.fileLast = &lastSuccess{at: lastSuccessIn(old)}
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(labels, reg).MustRegister(append(m.collectors(), m.fileLast)...)
	m.filed = reg
}

// canCreateIn reports why a file cannot be made in dir, if it cannot.
func canCreateIn(dir string) error {
	fh, err := os.CreateTemp(dir, ".mfabatch-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	fh.Close()
	return os.Remove(fh.Name())
}

// lastSuccessIn is the time of the last success in an earlier metrics
// file; 0 for none.
func lastSuccessIn(old io.Reader) float64 {
	if old == nil {
		return 0
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(io.LimitReader(old, maxOldMetrics))
	if err != nil {
		return 0
	}
	at := 0.0
	for _, mt := range families[lastSuccessName].GetMetric() {
		at = max(at, mt.GetGauge().GetValue())
	}
	return at
}

// writeFile writes the file's series: to a temporary file renamed into
// place, or as one whole S3 object.
func (m *metrics) writeFile(ctx context.Context) error {
	if m.st == nil {
		return prometheus.WriteToTextfile(m.path, m.filed)
	}
	families, err := m.filed.Gather()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			return err
		}
	}
	store, p, err := m.st.open(ctx, m.file, "--metrics-file")
	if err != nil {
		return err
	}
	return store.put(p, &b)
}

// fileProblem is why the file could not be written, without the name of
// the file beside it that was being written.
func fileProblem(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
