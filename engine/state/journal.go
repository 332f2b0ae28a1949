package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The intents journal is where an apply's write intents live until a
// checkpoint. A batch's intents must outlive damage to DuckDB's
// write-ahead log before the batch is sent (see durable). Checkpointing
// them cost a rewrite of the couplings' indexes per batch, a quarter of a
// first sync's CPU; writing them into the database uncheckpointed made them
// most of what an apply logged, and DuckDB checkpoints on its own each
// time its log passes 16 MiB. So they are appended to a file of their own
// beside the state file (its path with ".intents" appended), fsynced, each
// entry checksummed, and held pending in memory until settled
// (RecordResults) or dropped. A checkpoint (durable) first writes those
// still pending into the database, then empties the file. At open the
// journal is replayed (replayJournal): an intent the database has neither
// pending nor recorded, as any apply stopped mid-batch leaves, is put
// back among the pending intents, to be settled by reading back like any
// other. Drops are journalled too: a dropped intent put back would be
// settled again, and a create without client keys could then not be told
// apart from one that happened.
//
// Entries are frames: a little-endian uint32 length, the CRC-32C of those
// four bytes, the CRC-32C of the payload, then the payload
// (journalcodec.go). The length has a checksum of its own so that a
// damaged length is told from a frame cut short: otherwise a flipped bit
// pointing past the end would pass every later frame off as a torn tail.
// The first frame names the database (meta's database_id), so that a
// journal left beside a state file that was replaced is never applied to
// it.

// journalSuffix is appended to the state file's path to name its journal.
const journalSuffix = ".intents"

// journalLimit bounds the journal: past it, RecordIntents checkpoints, which
// empties it. A first sync of a million records would otherwise journal
// every write's fields (hundreds of MB) until its run ends, all to be read
// again by the next open after a crash. An intent of the benchmark's ten
// fields takes about 550 bytes, so at 128 MiB a checkpoint comes every
// 200,000 or so: a first sync of 100,000 needs none of its own.
const journalLimit = 128 << 20

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// journalEntry is one frame's payload.
type journalEntry struct {
	// Database is set in the first frame only: meta's database_id.
	Database string
	Intents  []Intent
	Dropped  *journalDrops
}

// journalDrops are intents dropped by DropIntents.
type journalDrops struct {
	Run  int64
	Seqs []int64
}

// journal appends to a state database's intents journal.
type journal struct {
	path string
	id   string // the database's id, written in the first frame
	mu   sync.Mutex
	f    journalFile // opened at the first append, kept open
	// size is the file's size: 0 when empty, the first frame not written.
	size int64
	// broken is set when a failed append could not be undone: appends fail
	// until a checkpoint empties the file.
	broken error
	// limit is journalLimit but in tests.
	limit int64
	// buf is the last append's frames, its memory reused.
	buf []byte
	// pending holds the intents journalled and neither settled nor
	// dropped since the last checkpoint: they are in the journal only,
	// and durable writes them into the database before it empties it.
	pending map[intentKey]Intent
}

// intentKey names a write: its run and seq.
type intentKey struct{ run, seq int64 }

// recordIntents journals intents and holds them pending. full reports
// whether the journal has grown past its limit (journalLimit).
func (j *journal) recordIntents(intents []Intent) (full bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.appendLocked(journalEntry{Intents: intents}); err != nil {
		return false, err
	}
	if j.pending == nil {
		j.pending = make(map[intentKey]Intent, len(intents))
	}
	for _, in := range intents {
		j.pending[intentKey{in.RunID, in.Seq}] = asStored(in)
	}
	return j.size > j.limit, nil
}

// dropLocked journals that run's intents seqs were dropped, and forgets
// them. The caller holds j.mu.
func (j *journal) dropLocked(run int64, seqs []int64) error {
	if err := j.appendLocked(journalEntry{Dropped: &journalDrops{Run: run, Seqs: seqs}}); err != nil {
		return err
	}
	for _, s := range seqs {
		delete(j.pending, intentKey{run, s})
	}
	return nil
}

// pendingLocked returns the intents held pending, in no order. The caller
// holds j.mu.
func (j *journal) pendingLocked() []Intent {
	out := make([]Intent, 0, len(j.pending))
	for _, in := range j.pending {
		out = append(out, in)
	}
	return out
}

// hasPending reports whether any intent is held pending.
func (j *journal) hasPending() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending) > 0
}

// maxJournalBuffer bounds the buffer a journal keeps between appends.
const maxJournalBuffer = 8 << 20

// journalFile is what the journal needs of its file: an *os.File opened
// for appending, or in tests one that fails.
type journalFile interface {
	Write([]byte) (int, error)
	Sync() error
	Truncate(int64) error
	Close() error
}

// frameHeader is the size of a frame's length and checksums.
const frameHeader = 12

// appendLocked writes e as one frame and syncs it to disk; the caller
// holds j.mu. What e records is committed to the database first (a drop)
// or held pending under the same lock (recordIntents): a checkpoint that
// empties the journal before e is appended then holds it already. A failed
// append is cut off again, so that the next one does not follow half a
// frame, which the next open would take for damage.
func (j *journal) appendLocked(e journalEntry) error {
	if j.broken != nil {
		return fmt.Errorf("intents journal %s: an earlier append could not be undone: %w", j.path, j.broken)
	}
	if err := j.openFile(); err != nil {
		return err
	}
	buf := j.buf[:0]
	if j.size == 0 {
		buf = appendFrame(buf, journalEntry{Database: j.id})
	}
	buf = appendFrame(buf, e)
	// Kept for the next append unless a batch made it large: grown anew
	// for each batch, frames were a tenth of what an apply allocated.
	if j.buf = buf; cap(buf) > maxJournalBuffer {
		j.buf = nil
	}
	_, err := j.f.Write(buf)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = terr
		}
		return fmt.Errorf("intents journal %s: %w", j.path, err)
	}
	j.size += int64(len(buf))
	return nil
}

// openFile opens the journal's file for appending, unless it is open, and
// takes its size.
func (j *journal) openFile() error {
	if j.f != nil {
		return nil
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("intents journal %s: %w", j.path, err)
	}
	st, err := f.Stat()
	if err == nil {
		// The file's name must outlive a power loss as its contents do.
		err = syncDir(filepath.Dir(j.path))
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("intents journal %s: %w", j.path, err)
	}
	j.f, j.size = f, st.Size()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendFrame appends e to buf as a frame.
func appendFrame(buf []byte, e journalEntry) []byte {
	at := len(buf)
	buf = encodeEntry(append(buf, make([]byte, frameHeader)...), e)
	payload := buf[at+frameHeader:]
	binary.LittleEndian.PutUint32(buf[at:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[at+4:], crc32.Checksum(buf[at:at+4], journalCRC))
	binary.LittleEndian.PutUint32(buf[at+8:], crc32.Checksum(payload, journalCRC))
	return buf
}

// emptyLocked forgets what the journal holds, once a checkpoint has put it
// in the main file. The caller holds j.mu across the checkpoint, so that
// nothing is appended between the two.
func (j *journal) emptyLocked() error {
	if j.f == nil || j.size == 0 && j.broken == nil {
		return nil
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("intents journal %s: empty: %w", j.path, err)
	}
	// Not synced: a journal found still full at the next open holds
	// intents the database already accounts for, which are left alone.
	j.size, j.broken = 0, nil
	return nil
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
// none. Appends are synced one at a time and a failed one is cut off
// again, so only the last frame can be incomplete: cut short, or zeros or
// garbage a crash while appending leaves (before the batch it held was
// sent). A bad frame with no good frame after it is that tail, left out
// as torn says; one with a good frame after it is damage, and refused.
func readJournal(path string) (entries []journalEntry, torn string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	for off := 0; off < len(b); {
		end, ok := frameAt(b, off)
		if !ok {
			if next := nextFrame(b, off+1); next >= 0 {
				return nil, "", fmt.Errorf("%w: its intents journal %s is damaged (a bad frame at byte %d, a good one at byte %d of %d)", ErrUnusable, path, off, next, len(b))
			}
			return entries, fmt.Sprintf("an incomplete last entry at byte %d of %d", off, len(b)), nil
		}
		e, err := decodeEntry(b[off+frameHeader : end])
		if err != nil {
			return nil, "", fmt.Errorf("%w: its intents journal %s is damaged (frame at byte %d: %v)", ErrUnusable, path, off, err)
		}
		entries = append(entries, e)
		off = end
	}
	return entries, "", nil
}

// frameAt reports whether a whole frame with good checksums starts at off,
// and where it ends.
func frameAt(b []byte, off int) (end int, ok bool) {
	if len(b)-off < frameHeader {
		return 0, false
	}
	if crc32.Checksum(b[off:off+4], journalCRC) != binary.LittleEndian.Uint32(b[off+4:]) {
		return 0, false
	}
	n := int64(binary.LittleEndian.Uint32(b[off:]))
	if n > int64(len(b)-off-frameHeader) {
		return 0, false
	}
	end = off + frameHeader + int(n)
	return end, crc32.Checksum(b[off+frameHeader:end], journalCRC) == binary.LittleEndian.Uint32(b[off+8:])
}

// nextFrame returns where the first good frame at or after from starts,
// -1 when there is none.
func nextFrame(b []byte, from int) int {
	for off := from; off+frameHeader <= len(b); off++ {
		if _, ok := frameAt(b, off); ok {
			return off
		}
	}
	return -1
}

// databaseID returns meta's database_id, making it (and checkpointing it,
// so that a journal naming it always finds it) when the database has
// none.
func (d *DB) databaseID(ctx context.Context) (id string, made bool, err error) {
	id, err = readDatabaseID(ctx, d.db)
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

// readDatabaseID returns meta's database_id; sql.ErrNoRows when there is
// none.
func readDatabaseID(ctx context.Context, db querier) (id string, err error) {
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'database_id'`).Scan(&id)
	return id, err
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
	restored, dropped, err := d.replayJournal(ctx, entries, logger)
	if err != nil {
		return err
	}
	// Intents are in the database only once checkpointed: any apply that
	// stopped mid-batch left some in the journal alone. A drop the
	// database lacks, though, was in its log, lost.
	if restored > 0 {
		logger.Warn("an apply stopped with writes in flight: their intents were put back from the intents journal, to be settled by reading back (coupler state intents lists them)",
			"intents", restored, "file", path)
	}
	if dropped > 0 {
		logger.Warn("the state database had lost intents dropped since its last checkpoint (its write-ahead log was damaged or cut short): dropped again from the intents journal",
			"dropped", dropped, "file", path)
	}
	if len(entries) > 0 || torn != "" {
		// Emptied by the checkpoint below, which puts what was restored
		// in the main file.
		if err := d.journal.openFile(); err != nil {
			return err
		}
	}
	if len(entries) > 0 || torn != "" || made {
		return d.durable(ctx)
	}
	return nil
}

// replayJournal brings the pending intents in line with the journal, for
// whatever the database lost with its log. In the journal's order, the
// last word on each write (run and seq) holds: recorded, it is put back
// unless the database has it pending or has its result; dropped, it is
// deleted if the database has it pending (a checkpoint between the intent
// and its drop put it in the main file, the drop only in the log).
//
// Only writes of a run the database holds unfinished, for the intent's
// plan, mapping and direction, are replayed: a run's start is checkpointed
// before its first intent is journalled, so a journal naming another run
// is newer than the database (a backup restored over it), and settling
// would fail on a plan it lacks, or record results under a run id it will
// give out again.
func (d *DB) replayJournal(ctx context.Context, entries []journalEntry, logger *slog.Logger) (restored, dropped int, err error) {
	lost, drops, err := journalDelta(ctx, d.db, entries, logger)
	if err != nil || len(lost) == 0 && len(drops) == 0 {
		return 0, 0, err
	}
	err = d.connTx(ctx, func(c *sql.Conn) error {
		dropped, err = applyJournalDelta(ctx, c, "", "write_intents", lost, drops)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("replay the intents journal: %w", err)
	}
	return len(lost), dropped, nil
}

// journalDelta is what replayJournal changes: the intents to put back
// (lost), and per run the seqs of pending intents to drop.
func journalDelta(ctx context.Context, db querier, entries []journalEntry, logger *slog.Logger) (lost []Intent, drops map[int64][]any, err error) {
	last := map[intentKey]int{} // index in journalled, -1 once dropped
	var journalled []Intent
	var order []intentKey
	note := func(k intentKey, i int) {
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = i
	}
	for _, e := range entries[min(1, len(entries)):] {
		if e.Dropped != nil {
			for _, s := range e.Dropped.Seqs {
				note(intentKey{e.Dropped.Run, s}, -1)
			}
		}
		for _, in := range e.Intents {
			journalled = append(journalled, in)
			note(intentKey{in.RunID, in.Seq}, len(journalled)-1)
		}
	}
	parts := map[int64]*Part{} // the runs the database holds unfinished
	pending, recorded := map[intentKey]bool{}, map[intentKey]bool{}
	for _, k := range order {
		if _, seen := parts[k.run]; seen {
			continue
		}
		var p Part
		err := db.QueryRowContext(ctx, `SELECT plan_id, mapping, direction FROM runs WHERE id = ? AND finished_at IS NULL`, k.run).
			Scan(&p.PlanID, &p.Mapping, &p.Direction)
		if errors.Is(err, sql.ErrNoRows) {
			parts[k.run] = nil
			logger.Warn("the intents journal holds writes of a run the state database does not hold unfinished (a backup restored over it?); left out", "run", k.run)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("intents journal: %w", err)
		}
		parts[k.run] = &p
		rows, err := db.QueryContext(ctx, `SELECT seq, true FROM write_intents WHERE run_id = ?
			UNION ALL SELECT seq, false FROM run_records WHERE run_id = ?`, k.run, k.run)
		if err != nil {
			return nil, nil, fmt.Errorf("intents journal: %w", err)
		}
		for rows.Next() {
			var seq int64
			var isPending bool
			if err := rows.Scan(&seq, &isPending); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if isPending {
				pending[intentKey{k.run, seq}] = true
			} else {
				recorded[intentKey{k.run, seq}] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	drops = map[int64][]any{}
	for _, k := range order {
		p := parts[k.run]
		if p == nil {
			continue
		}
		i := last[k]
		switch {
		case i < 0 && pending[k]:
			drops[k.run] = append(drops[k.run], k.seq)
		case i >= 0 && !pending[k] && !recorded[k]:
			in := journalled[i]
			if in.PlanID != p.PlanID || in.Mapping != p.Mapping || in.Direction != p.Direction {
				logger.Warn("the intents journal holds a write of another plan than its run's; left out", "run", k.run, "seq", k.seq, "plan", in.PlanID)
				continue
			}
			lost = append(lost, in)
		}
	}
	return lost, drops, nil
}

// applyJournalDelta makes journalDelta's changes to table (write_intents,
// or a copy of it) of catalog ("" for the database's own) on c, and
// returns how many intents it dropped.
func applyJournalDelta(ctx context.Context, c *sql.Conn, catalog, table string, lost []Intent, drops map[int64][]any) (dropped int, err error) {
	name := table
	if catalog != "" {
		name = catalog + "." + table
	}
	for run, seqs := range drops {
		res, err := c.ExecContext(ctx, `DELETE FROM `+name+` WHERE run_id = ? AND seq IN (`+placeholders(len(seqs))+`)`,
			append([]any{run}, seqs...)...)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		dropped += int(n)
	}
	return dropped, appendRows(c, catalog, table, intentColumns, len(lost), func(i int) []driver.Value { return intentRow(&lost[i]) })
}

// showJournal shows a read-only open (Query) the intents in the journal
// beside the state file at path, which only a writable open replays
// (showIntents): coupler query then shows the writes in flight of an
// apply that was killed, as any command that opens the state will hold
// them. A journal of another database is left out, as the next open moves
// it aside; a damaged one too, with a warning, so that the tables can
// still be read to look into it.
func showJournal(ctx context.Context, conn *sql.Conn, path string) error {
	entries, _, err := readJournal(path + journalSuffix)
	if err != nil {
		slog.Warn("write_intents is shown without the intents journal beside the state file", "error", err)
		return nil
	}
	if len(entries) == 0 {
		return nil
	}
	switch id, err := readDatabaseID(ctx, conn); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("intents journal: %w", err)
	case entries[0].Database != id:
		return nil
	}
	lost, drops, err := journalDelta(ctx, conn, entries, slog.New(slog.DiscardHandler))
	if err != nil || len(lost) == 0 && len(drops) == 0 {
		return err
	}
	return showIntents(ctx, conn, lost, drops)
}

// showIntents makes write_intents, for the statements that follow on conn,
// the database's with lost added and drops taken out: a temporary view of
// a temporary copy, which hides the table (a view, so that a statement
// that would write to write_intents is refused, as on the table in a
// read-only open). Created in a transaction, both go with it.
func showIntents(ctx context.Context, conn *sql.Conn, lost []Intent, drops map[int64][]any) error {
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE shown_intents AS FROM main.write_intents`); err != nil {
		return fmt.Errorf("show write intents: %w", err)
	}
	if _, err := applyJournalDelta(ctx, conn, "temp", "shown_intents", lost, drops); err != nil {
		return fmt.Errorf("show write intents: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TEMP VIEW write_intents AS FROM temp.shown_intents`); err != nil {
		return fmt.Errorf("show write intents: %w", err)
	}
	return nil
}
