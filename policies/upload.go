package policies

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Limits bound what an uploaded bundle may unpack to. An upload is
// untrusted input: a gzip of a few bytes can claim (in a tar header) or
// inflate to gigabytes, so every limit is enforced on the bytes as they are
// read, never on what a header says.
type Limits struct {
	// Compressed is the largest upload, in bytes.
	Compressed int64
	// File is the largest unpacked entry, in bytes.
	File int64
	// Total is the largest sum of unpacked entries, in bytes.
	Total int64
	// Files is the most entries (files and folders) a bundle may hold.
	Files int
	// Ratio is the most unpacked bytes per compressed byte once the
	// unpacked total passes RatioFloor; a policy bundle of text
	// compresses about tenfold, a bomb a thousandfold.
	Ratio      int64
	RatioFloor int64
}

// DefaultLimits fit a district's bundle many times over.
func DefaultLimits() Limits {
	return Limits{
		Compressed: 8 << 20,
		File:       4 << 20,
		Total:      32 << 20,
		Files:      2000,
		Ratio:      100,
		RatioFloor: 1 << 20,
	}
}

// Validate reports a limit that cannot work.
func (l Limits) Validate() error {
	switch {
	case l.Compressed <= 0, l.File <= 0, l.Total <= 0, l.Files <= 0, l.Ratio <= 0:
		return errors.New("policies: every bundle limit must be positive")
	case l.File > l.Total:
		return errors.New("policies: the per-file bundle limit exceeds the total")
	}
	return nil
}

// ErrLimit wraps every refusal of an upload for its size or shape.
var ErrLimit = errors.New("bundle exceeds a limit")

// LimitError names the limit an upload broke, for the API's answer.
type LimitError struct {
	// Limit is a stable name: compressed_size, file_size, total_size,
	// file_count, compression_ratio, entry_type, entry_name.
	Limit   string
	Message string
}

func (e *LimitError) Error() string { return e.Message }
func (e *LimitError) Unwrap() error { return ErrLimit }

func limitErr(limit, format string, args ...any) error {
	return &LimitError{Limit: limit, Message: fmt.Sprintf(format, args...)}
}

// countingReader counts the compressed bytes consumed and refuses more
// than max.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, limitErr("compressed_size", "the bundle is larger than %d bytes compressed", c.max)
	}
	return n, err
}

// inflatedReader counts every byte gzip inflates, against the total (with
// room for the tar headers) and the ratio to what it has read compressed.
type inflatedReader struct {
	r          io.Reader
	n          int64
	l          Limits
	compressed *countingReader
}

func (i *inflatedReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	i.n += int64(n)
	if i.n > i.l.Total+int64(i.l.Files+1)*1024 {
		return n, limitErr("total_size", "the bundle unpacks to more than %d bytes", i.l.Total)
	}
	if i.n > i.l.RatioFloor && i.n > i.l.Ratio*max(i.compressed.n, 1) {
		return n, limitErr("compression_ratio", "the bundle unpacks to more than %d times its compressed size", i.l.Ratio)
	}
	return n, err
}

// inspect reads the whole gzipped tarball under the limits and discards
// it: only a bundle that passes is handed to OPA's reader.
func (l Limits) inspect(raw []byte) error {
	if int64(len(raw)) > l.Compressed {
		return limitErr("compressed_size", "the bundle is larger than %d bytes compressed", l.Compressed)
	}
	cr := &countingReader{r: bytes.NewReader(raw), max: l.Compressed}
	zr, err := gzip.NewReader(cr)
	if err != nil {
		return fmt.Errorf("policies: not a gzipped bundle: %w", err)
	}
	// Every inflated byte counts, the tar reader's own headers too (a PAX
	// header may be a megabyte, and the reader takes any number of them).
	inflated := &inflatedReader{r: zr, l: l, compressed: cr}
	tr := tar.NewReader(inflated)
	var total int64
	files := 0
	buf := make([]byte, 32<<10)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				return le
			}
			return fmt.Errorf("policies: not a tar bundle: %w", err)
		}
		files++
		if files > l.Files {
			return limitErr("file_count", "the bundle holds more than %d entries", l.Files)
		}
		name := h.Name
		if len(name) > 512 || strings.ContainsRune(name, 0) || slices.Contains(strings.Split(name, "/"), "..") {
			return limitErr("entry_name", "the bundle holds an entry with an unusable name")
		}
		// A claim beyond the limit is refused at once; a claim within it is
		// still only a claim, and the reading below counts the real bytes.
		if h.Size > l.File {
			return limitErr("file_size", "the bundle entry %q claims more than %d bytes", name, l.File)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		default:
			return limitErr("entry_type", "the bundle entry %q is neither a file nor a folder (links and devices are refused)", name)
		}
		// Read the entry's real bytes; the header's size is only a claim.
		var n int64
		for {
			k, rerr := tr.Read(buf)
			n += int64(k)
			total += int64(k)
			if n > l.File {
				return limitErr("file_size", "the bundle entry %q unpacks to more than %d bytes", name, l.File)
			}
			if total > l.Total {
				return limitErr("total_size", "the bundle unpacks to more than %d bytes", l.Total)
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				var le *LimitError
				if errors.As(rerr, &le) {
					return le
				}
				return fmt.Errorf("policies: bundle entry %q: %w", name, rerr)
			}
		}
	}
	return nil
}

// ReadUpload reads an uploaded bundle (a gzipped tarball as `opa build`
// writes it) under the limits. Errors for size and shape wrap ErrLimit
// and are *LimitError.
func ReadUpload(raw []byte, l Limits) (*bundle.Bundle, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := l.inspect(raw); err != nil {
		return nil, err
	}
	loader := bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(raw), "").WithSizeLimitBytes(l.File)
	b, err := bundle.NewCustomReader(loader).
		WithRegoVersion(ast.RegoV1).
		WithSizeLimitBytes(l.File).
		WithCapabilities(Capabilities()).
		Read()
	if err != nil {
		return nil, fmt.Errorf("policies: read bundle: %w", err)
	}
	return &b, nil
}

// Pack writes the bundle folder dir as `opa build` lays it out: a gzipped
// tar of its Rego, data and manifest files, in a stable order.
func Pack(dir string) ([]byte, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !d.IsDir() && !onlyPolicyFiles(p, info, 0) {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policies: pack %s: %w", dir, err)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policies: pack: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b))}); err != nil {
			return nil, fmt.Errorf("policies: pack: %w", err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("policies: pack: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("policies: pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("policies: pack: %w", err)
	}
	return buf.Bytes(), nil
}
