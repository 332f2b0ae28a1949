package connectors

import (
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
)

// Defaults of ReadLimits.
const (
	// DefaultMaxPages lets a read of 5,000 records a page (Dataverse's
	// default) reach 500 million records, and stops a server that hands
	// out next links forever after some minutes.
	DefaultMaxPages = 100_000
	// DefaultMaxReadBytes is far more than the mapped fields of millions
	// of records take.
	DefaultMaxReadBytes = 8 << 30
)

// ReadLimits bound one read (of an entity, a change-tracking delta, or
// the records Get asks for): the pages a server may hand out and the
// bytes of their bodies. A server that never stops paging, empty pages
// each with a new next link, would otherwise keep a sync, and every
// mapping serve runs after it, waiting forever. A connector type whose
// reads page declares them in its settings (Keys) and counts each read
// with a ReadBudget.
type ReadLimits struct {
	// MaxPages bounds the pages of one read; 0 means DefaultMaxPages.
	MaxPages int
	// MaxBytes bounds the response bytes of one read; 0 means
	// DefaultMaxReadBytes.
	MaxBytes int64
}

// Setting names of ReadLimits in a connector's settings.
const (
	SettingMaxPages     = "max_pages"
	SettingMaxReadBytes = "max_read_bytes"
)

// Keys returns the decoders of max_pages and max_read_bytes, for a
// connector type's Settings.Keys.
func (l *ReadLimits) Keys(d *config.Decoder, what string) map[string]config.KeyFunc {
	return map[string]config.KeyFunc{
		SettingMaxPages: func(_, v *yaml.Node) {
			l.MaxPages, _ = d.Int(v, what+": "+SettingMaxPages, 1, 1<<31-1)
		},
		SettingMaxReadBytes: func(_, v *yaml.Node) {
			l.MaxBytes, _ = d.Size(v, what+": "+SettingMaxReadBytes, 1<<10, 1<<50)
		},
	}
}

// ErrReadLimit is wrapped by the error of a read stopped by its
// ReadLimits.
var ErrReadLimit = errors.New("read limit reached")

// Budget returns a budget for one read under l.
func (l ReadLimits) Budget() *ReadBudget {
	b := &ReadBudget{pages: l.MaxPages, bytes: l.MaxBytes}
	if b.pages <= 0 {
		b.pages = DefaultMaxPages
	}
	if b.bytes <= 0 {
		b.bytes = DefaultMaxReadBytes
	}
	b.maxPages, b.maxBytes = b.pages, b.bytes
	return b
}

// ReadBudget is what is left of one read's ReadLimits. It is not safe for
// concurrent use: a read fetches its pages one after another.
type ReadBudget struct {
	pages, maxPages int
	bytes, maxBytes int64
	err             error // once spent
}

// Err is the error of the limit the read ran past, nil while it has not:
// for a caller that found it wrapped in another (a decoding error) to say
// it alone.
func (b *ReadBudget) Err() error { return b.err }

// Page takes one page from the budget, before the page is requested.
func (b *ReadBudget) Page() error {
	if b.pages <= 0 {
		b.err = fmt.Errorf("%w: the server still had a next page after %d pages, the most one read may fetch (setting %s)",
			ErrReadLimit, b.maxPages, SettingMaxPages)
		return b.err
	}
	b.pages--
	return nil
}

// HasPage reports whether Page would take a page without failing.
func (b *ReadBudget) HasPage() bool { return b.pages > 0 }

// Bytes takes n bytes of response from the budget.
func (b *ReadBudget) Bytes(n int64) error {
	b.bytes -= n
	if b.bytes < 0 {
		b.err = fmt.Errorf("%w: the responses took more than %d bytes, the most one read may take (setting %s)",
			ErrReadLimit, b.maxBytes, SettingMaxReadBytes)
		return b.err
	}
	return nil
}

// Reader returns r, counting the bytes read from it against the budget
// and failing once it is spent.
func (b *ReadBudget) Reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r   io.Reader
	b   *ReadBudget
	err error // sticky, once the budget is spent
}

func (r *budgetReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	if berr := r.b.Bytes(int64(n)); berr != nil {
		r.err = berr
		return n, berr
	}
	return n, err
}
