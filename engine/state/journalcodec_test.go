package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func sampleEntries() []journalEntry {
	at := time.Date(2026, 12, 6, 1, 2, 3, 456789000, time.UTC)
	return []journalEntry{
		{Database: "5f0c1d9e-7a43-4c55-9a0e-2b7c1c3b8f11"},
		{Intents: []Intent{
			{RunID: 3, PlanID: "p-1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create", SourceID: "c-1",
				ClientKey: "0c1d9e5f-7a43-4c55-9a0e-2b7c1c3b8f11", Fields: `{"name":"Ünïcode \"quoted\"","n":5000.00}`, SourceModified: at, SourceETag: `W/"JzQ0OzE7MDsn"`, CreatedAt: at},
			{RunID: 3, PlanID: "p-1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 2, Op: "update", SourceID: "c-2", DestID: "a-2", Fields: `{}`, CreatedAt: at.Add(time.Second)},
		}},
		{Dropped: &journalDrops{Run: 3, Seqs: []int64{2, 7, -1}}},
		{Intents: []Intent{}},
	}
}

// Every entry comes back from its payload as it was written.
func TestJournalEntryRoundTrip(t *testing.T) {
	for _, e := range sampleEntries() {
		got, err := decodeEntry(encodeEntry(nil, e))
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if len(e.Intents) == 0 && len(got.Intents) == 0 {
			e.Intents, got.Intents = nil, nil
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("decoded %+v, want %+v", got, e)
		}
	}
}

// FuzzDecodeEntry: no payload makes the decoder panic or allocate beyond
// its size, and whatever it decodes encodes back to the same payload.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		b := encodeEntry(nil, e)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{entryIntents, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := decodeEntry(payload)
		if err != nil {
			return
		}
		if again := encodeEntry(nil, e); string(again) != string(payload) {
			// Varints have one shortest form; a longer one decodes
			// alike but encodes shorter: decode that again.
			e2, err := decodeEntry(again)
			if err != nil || !reflect.DeepEqual(e2, e) {
				t.Fatalf("payload %x decodes to %+v, which encodes to %x (%v)", payload, e, again, err)
			}
		}
	})
}

// failingFile fails its next Sync once, after the write went through: a
// disk that filled, or an I/O error.
type failingFile struct {
	*os.File
	failSync bool
}

func (f *failingFile) Sync() error {
	if f.failSync {
		f.failSync = false
		return errors.New("no space left on device")
	}
	return f.File.Sync()
}

// A failed append is cut off again: the next append, in the same process
// (coupler serve applies again), must not follow half a frame, which the
// next open would take for damage and refuse.
func TestJournalAppendFailureLeavesNoHalfFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.duckdb.intents")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ff := &failingFile{File: f}
	j := &journal{path: path, id: "db-1", f: ff, limit: journalLimit}
	defer j.close()
	in := Intent{RunID: 1, PlanID: "p", Mapping: "M", Direction: "to_integration", Op: "create", SourceID: "s", Fields: "{}"}
	in.Seq = 1
	if _, err := j.recordIntents([]Intent{in}); err != nil {
		t.Fatal(err)
	}
	ff.failSync = true
	in.Seq = 2
	if _, err := j.recordIntents([]Intent{in}); err == nil {
		t.Fatal("append with a failing sync succeeded")
	}
	in.Seq = 3
	if _, err := j.recordIntents([]Intent{in}); err != nil {
		t.Fatal(err)
	}
	entries, torn, err := readJournal(path)
	if err != nil || torn != "" {
		t.Fatalf("read back: %v, torn %q", err, torn)
	}
	var seqs []int64
	for _, e := range entries[1:] {
		for _, in := range e.Intents {
			seqs = append(seqs, in.Seq)
		}
	}
	if !slices.Equal(seqs, []int64{1, 3}) {
		t.Errorf("journalled %v, want [1 3]: the failed append kept", seqs)
	}
}

// FuzzReadJournal: no file makes readJournal panic, and a journal it reads
// whole, framed again, is the file it read.
func FuzzReadJournal(f *testing.F) {
	var whole []byte
	for _, e := range sampleEntries() {
		whole = appendFrame(whole, e)
	}
	f.Add(whole)
	f.Add(whole[:len(whole)-3])
	f.Add(append(bytes.Clone(whole), make([]byte, 20)...))
	path := filepath.Join(f.TempDir(), "j")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		entries, torn, err := readJournal(path)
		if err != nil || torn != "" {
			return
		}
		var again []byte
		for _, e := range entries {
			again = appendFrame(again, e)
		}
		if len(again) != len(b) {
			t.Fatalf("read %d entries from %d bytes; they frame to %d", len(entries), len(b), len(again))
		}
	})
}
