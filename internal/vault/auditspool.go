package vault

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/uuid"
)

// The audit spool: while the store cannot be reached, the audit writer
// appends the records it cannot commit to a local file (one JSON object per
// line, fsynced before their operations are told they are recorded) and
// replays them into the store, oldest first, when it answers again. Records
// that arrive while the spool holds any go to the spool too, so the log
// keeps its order. Each line carries its record's ID, fixed before the
// first attempt to commit it, so replay writes each record into the store
// once even though a batch may be written more than once (a commit that
// failed on a cut connection but happened; a crash between committing a
// replayed batch and recording how far replay got): the store leaves out
// records whose ID it holds. Lines written before records had IDs get one
// derived from their offset and bytes, the same at every replay.

// Spool file names in the spool directory.
const (
	AuditSpoolFile = "vault-audit.spool"
	// auditSpoolPosFile holds the byte offset up to which the spool was
	// replayed (decimal); absent means 0.
	auditSpoolPosFile = "vault-audit.spool.pos"
	// maxSpoolLine bounds one spooled record; a longer line is corrupt.
	maxSpoolLine = 64 << 10
)

// auditSpool is the spool file; only the audit writer's goroutine uses it.
type auditSpool struct {
	path, posPath string
	log           *slog.Logger
	f             *os.File
	size          int64 // bytes in the file
	pos           int64 // bytes replayed
}

// openAuditSpool opens (creating it and dir if needed) the spool in dir,
// with what an earlier run left in it still to replay.
func openAuditSpool(dir string, log *slog.Logger) (*auditSpool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the audit spool directory: %w", err)
	}
	sp := &auditSpool{path: filepath.Join(dir, AuditSpoolFile), posPath: filepath.Join(dir, auditSpoolPosFile), log: log}
	f, err := os.OpenFile(sp.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the audit spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open the audit spool: %w", err)
	}
	sp.f, sp.size = f, fi.Size()
	if b, err := os.ReadFile(sp.posPath); err == nil {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n >= 0 && n <= sp.size {
			sp.pos = n
		}
	}
	if sp.pending() {
		log.Warn("vault audit records spooled during a database outage are waiting to be replayed into the store", "spool", sp.path, "bytes", sp.size-sp.pos)
	} else if err := sp.reset(); err != nil {
		f.Close()
		return nil, err
	}
	return sp, nil
}

// pending reports whether records wait in the spool.
func (sp *auditSpool) pending() bool { return sp.size > sp.pos }

// append writes recs at the end of the spool and syncs it.
func (sp *auditSpool) append(recs []AuditRecord) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode an audit record for the spool: %w", err)
		}
	}
	n, err := sp.f.Write(buf.Bytes())
	sp.size += int64(n)
	if err == nil {
		err = sp.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("write the audit spool %s: %w", sp.path, err)
	}
	return nil
}

// next reads up to max records from the replay position and returns them
// with the offset just after them. Lines that do not decode (a write cut by
// a crash) are logged and skipped.
func (sp *auditSpool) next(max int) ([]AuditRecord, int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(sp.f, sp.pos, sp.size-sp.pos), 64<<10)
	end := sp.pos
	var recs []AuditRecord
	for len(recs) < max {
		line, err := readSpoolLine(r)
		end += int64(len(line))
		if len(line) > 0 {
			off := end - int64(len(line))
			rec, derr := decodeSpoolLine(line)
			if derr != nil {
				sp.log.Error("vault audit spool: a line that is not an audit record is skipped", "spool", sp.path, "offset", off, "error", derr)
			} else {
				if rec.ID == "" {
					rec.ID = legacySpoolID(off, line)
				}
				recs = append(recs, rec)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read the audit spool %s: %w", sp.path, err)
		}
	}
	return recs, end, nil
}

// readSpoolLine returns the next line with its newline (without one at the
// end of the file); a line longer than maxSpoolLine is returned whole but
// fails to decode.
func readSpoolLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// decodeSpoolLine decodes one spooled record.
func decodeSpoolLine(line []byte) (AuditRecord, error) {
	var rec AuditRecord
	if len(line) > maxSpoolLine {
		return rec, fmt.Errorf("line of %d bytes, longer than %d", len(line), maxSpoolLine)
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		return rec, err
	}
	if rec.Time.IsZero() || rec.Operation == "" {
		return rec, errors.New("record without time or operation")
	}
	return rec, nil
}

// legacySpoolNamespace is the UUID namespace of legacySpoolID.
var legacySpoolNamespace = uuid.MustParse("6f1d0a52-8c3e-4b7a-9d2f-3e5c7a1b9e40")

// legacySpoolID is the ID of a spooled record written without one (by a
// version before records had IDs): a name-based UUID of the line and its
// offset, so that every replay of the line, after a restart too, gives
// the record the same ID (the offset of a line stays until the spool is
// emptied, and tells apart two records that are alike byte for byte).
func legacySpoolID(off int64, line []byte) string {
	name := make([]byte, 0, 8+len(line))
	name = binary.BigEndian.AppendUint64(name, uint64(off))
	return uuid.NewSHA1(legacySpoolNamespace, append(name, line...)).String()
}

// advance records that the spool was replayed up to off; once all of it is,
// the file is emptied.
func (sp *auditSpool) advance(off int64) error {
	sp.pos = off
	if !sp.pending() {
		return sp.reset()
	}
	if err := os.WriteFile(sp.posPath, []byte(strconv.FormatInt(off, 10)), 0o600); err != nil {
		return fmt.Errorf("record the audit spool's replay position: %w", err)
	}
	return nil
}

// reset empties the spool.
func (sp *auditSpool) reset() error {
	if err := sp.f.Truncate(0); err != nil {
		return fmt.Errorf("empty the audit spool %s: %w", sp.path, err)
	}
	sp.size, sp.pos = 0, 0
	if err := os.Remove(sp.posPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("empty the audit spool: %w", err)
	}
	return nil
}

func (sp *auditSpool) close() error { return sp.f.Close() }
