package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The intents journal is what lets an apply send a batch without first
// checkpointing the state database. A batch's intents must outlive damage
// to DuckDB's write-ahead log before the batch is sent (see durable), and
// checkpointing them there cost a rewrite of the couplings' indexes per
// batch: a quarter of a first sync's CPU. They are appended instead to a
// file of their own beside the state file (its path with ".intents"
// appended), fsynced, each entry checksummed, and the file is emptied at
// each checkpoint, which puts whatever it held in the main file. At open,
// an intent the journal holds that the database knows nothing of (not
// pending, no result recorded for it, not dropped) was lost with the log,
// and is put back among the pending intents, to be settled by reading
// back like any other. Drops are journalled too: a dropped intent put
// back would be settled again, and a create without client keys could
// then not be told apart from one that happened.
//
// Entries are frames: a little-endian uint32 length, the CRC-32C of the
// payload, then the payload, JSON. The first frame names the database
// (meta's database_id), so that a journal left beside a state file that
// was replaced is never applied to it.

// journalSuffix is appended to the state file's path to name its journal.
const journalSuffix = ".intents"

// journalLimit bounds the journal: past it, RecordIntents checkpoints, which
// empties it. A first sync of a million records would otherwise journal
// every write's fields (hundreds of MB) until its run ends, all to be read
// again by the next open after a crash. At 64 MiB a checkpoint comes every
// 100,000 or so intents of the benchmark's ten fields, a small share of
// the checkpoints a batch each used to cost.
const journalLimit = 64 << 20

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// journalEntry is one frame's payload.
type journalEntry struct {
	// Database is set in the first frame only: meta's database_id.
	Database string        `json:"database,omitempty"`
	Intents  []Intent      `json:"intents,omitempty"`
	Dropped  *journalDrops `json:"dropped,omitempty"`
}

// journalDrops are intents dropped by DropIntents.
type journalDrops struct {
	Run  int64   `json:"run"`
	Seqs []int64 `json:"seqs"`
}

// journal appends to a state database's intents journal.
type journal struct {
	path string
	id   string // the database's id, written in the first frame
	mu   sync.Mutex
	f    *os.File // opened at the first append after the file was emptied
	used bool     // f holds the first frame
	size int64    // bytes appended since the file was emptied
	// limit is journalLimit but in tests.
	limit int64
}

// append writes e as one frame and syncs it to disk. The caller has
// committed what e records to the database first: a checkpoint that
// empties the journal before e is appended then holds it already.
func (j *journal) append(e journalEntry) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("intents journal %s: %w", j.path, err)
		}
		j.f = f
	}
	var buf []byte
	if !j.used {
		head, err := json.Marshal(journalEntry{Database: j.id})
		if err != nil {
			return err
		}
		buf = appendFrame(buf, head)
	}
	buf = appendFrame(buf, payload)
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("intents journal %s: %w", j.path, err)
	}
	j.size += int64(len(buf))
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("intents journal %s: sync: %w", j.path, err)
	}
	j.used = true
	return nil
}

func appendFrame(buf, payload []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(payload, journalCRC))
	return append(buf, payload...)
}

// empty forgets what the journal holds, once a checkpoint has put it in
// the main file. The caller holds j.mu across the checkpoint, so that
// nothing is appended between the two.
func (j *journal) emptyLocked() error {
	if !j.used {
		return nil
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("intents journal %s: empty: %w", j.path, err)
	}
	// Not synced: a journal found still full at the next open holds
	// intents the database already accounts for, which are left alone.
	j.used, j.size = false, 0
	return nil
}

// full reports whether the journal has grown past journalLimit.
func (j *journal) full() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size > j.limit
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// readJournal reads the frames of the journal at path: nil when there is
// none. A last frame cut short or failing its checksum is what a crash
// while appending leaves, before the batch it held was sent: it is left
// out, as torn says. A damaged frame before the last is refused.
func readJournal(path string) (entries []journalEntry, torn string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return entries, fmt.Sprintf("a frame header cut short at byte %d", off), nil
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		end := off + 8 + n
		if n < 0 || end > len(b) || end < off {
			return entries, fmt.Sprintf("a frame cut short at byte %d", off), nil
		}
		payload := b[off+8 : end]
		if crc32.Checksum(payload, journalCRC) != sum {
			if end == len(b) {
				return entries, fmt.Sprintf("a last frame failing its checksum at byte %d", off), nil
			}
			return nil, "", fmt.Errorf("%w: its intents journal %s is damaged (a frame failing its checksum at byte %d of %d)", ErrUnusable, path, off, len(b))
		}
		var e journalEntry
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, "", fmt.Errorf("%w: its intents journal %s is damaged (frame at byte %d: %v)", ErrUnusable, path, off, err)
		}
		entries = append(entries, e)
		off = end
	}
	return entries, "", nil
}

// databaseID returns meta's database_id, making it (and checkpointing it,
// so that a journal naming it always finds it) when the database has
// none.
func (d *DB) databaseID(ctx context.Context) (id string, made bool, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'database_id'`).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("database id: %w", err)
	}
	if err := d.db.QueryRowContext(ctx, `INSERT INTO meta VALUES ('database_id', uuid()::VARCHAR) RETURNING value`).Scan(&id); err != nil {
		return "", false, fmt.Errorf("database id: %w", err)
	}
	return id, true, nil
}

// openJournal reads the journal a stopped process left beside the state
// file, puts back the intents the database lost with its log, and readies
// the journal for this process's appends.
func (d *DB) openJournal(ctx context.Context, logger *slog.Logger) error {
	path := d.path + journalSuffix
	entries, torn, err := readJournal(path)
	if err != nil {
		return err
	}
	id, made, err := d.databaseID(ctx)
	if err != nil {
		return err
	}
	d.journal = &journal{path: path, id: id, limit: journalLimit}
	if torn != "" {
		logger.Warn("the state database's intents journal ends in an incomplete entry, as a crash while recording a batch's intents leaves it; that batch was not sent",
			"file", path, "where", torn)
	}
	if len(entries) > 0 && (made || entries[0].Database != id) {
		// Not this database's: a state file replaced or moved away, its
		// journal left behind. Kept for a look, never applied.
		kept := fmt.Sprintf("%s.foreign-%s", path, time.Now().UTC().Format("20060102-150405"))
		if err := os.Rename(path, kept); err != nil {
			return fmt.Errorf("move away the intents journal of another database: %w", err)
		}
		logger.Warn("the intents journal beside the state database belongs to another database; moved away unread", "file", path, "copy", kept)
		entries = nil
	}
	restored, err := d.restoreIntents(ctx, entries, logger)
	if err != nil {
		return err
	}
	if restored > 0 {
		logger.Warn("the state database had lost write intents its intents journal held (its write-ahead log was damaged or cut short); they are settled by reading back",
			"intents", restored, "file", path)
	}
	if len(entries) > 0 || torn != "" {
		// Emptied by the checkpoint below, which puts what was restored
		// in the main file.
		d.journal.used = true
		if d.journal.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return fmt.Errorf("intents journal %s: %w", path, err)
		}
	}
	if len(entries) > 0 || torn != "" || made {
		return d.durable(ctx)
	}
	return nil
}

// restoreIntents puts back among the pending intents those of entries the
// database has no trace of: not pending, no result recorded, not dropped.
// Intents of a run the database does not hold are left out: a run's start
// is checkpointed before its first intent is journalled, so the database
// is older than the journal (a backup restored over it), and settling
// would fail on the plan it lacks, or record results under a run id the
// database will give out again.
func (d *DB) restoreIntents(ctx context.Context, entries []journalEntry, logger *slog.Logger) (int, error) {
	type key struct{ run, seq int64 }
	dropped := map[key]bool{}
	var journalled []Intent
	runs := map[int64]bool{}
	for _, e := range entries[min(1, len(entries)):] {
		if e.Dropped != nil {
			for _, s := range e.Dropped.Seqs {
				dropped[key{e.Dropped.Run, s}] = true
			}
		}
		for _, in := range e.Intents {
			journalled = append(journalled, in)
			runs[in.RunID] = true
		}
	}
	if len(journalled) == 0 {
		return 0, nil
	}
	known := map[key]bool{}
	for run := range runs {
		var held bool
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM runs WHERE id = ?`, run).Scan(&held); err != nil {
			return 0, fmt.Errorf("intents journal: %w", err)
		}
		if !held {
			runs[run] = false
			logger.Warn("the intents journal holds intents of a run the state database does not (a backup restored over it?); left out", "run", run)
			continue
		}
		rows, err := d.db.QueryContext(ctx, `SELECT run_id, seq FROM write_intents WHERE run_id = ?
			UNION ALL SELECT run_id, seq FROM run_records WHERE run_id = ?`, run, run)
		if err != nil {
			return 0, fmt.Errorf("intents journal: %w", err)
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.run, &k.seq); err != nil {
				rows.Close()
				return 0, err
			}
			known[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
	}
	var lost []Intent
	for _, in := range journalled {
		k := key{in.RunID, in.Seq}
		if runs[in.RunID] && !known[k] && !dropped[k] {
			known[k] = true // a batch recorded twice is restored once
			lost = append(lost, in)
		}
	}
	if len(lost) == 0 {
		return 0, nil
	}
	err := d.connTx(ctx, func(c *sql.Conn) error {
		return appendRows(c, "", "write_intents", intentColumns, len(lost), func(i int) []driver.Value { return intentRow(&lost[i]) })
	})
	if err != nil {
		return 0, fmt.Errorf("restore write intents from the intents journal: %w", err)
	}
	return len(lost), nil
}
