package statefile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/s2"
)

// Version is the format version this package writes. A change to the
// header, the framing or the fixed part of the host record takes a new
// version; a new host field can be a record section (see sectionReplay),
// which readers that do not know it skip. Version 2 added the sections,
// with sender instances' replay windows in the first.
const Version = 2

// MinVersion is the oldest format version this package reads: an upgraded
// hbd starts from the state its predecessor wrote. An older hbd sets the
// files of a newer version aside (unsupported/) rather than misread them.
const MinVersion = 1

// Kind is what a file holds.
type Kind uint8

// File kinds.
const (
	KindSnapshot Kind = 1 // every host's full record
	KindDelta    Kind = 2 // the hosts that changed since the previous file
)

func (k Kind) String() string {
	switch k {
	case KindSnapshot:
		return "snapshot"
	case KindDelta:
		return "delta"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is what a file says of itself.
type Header struct {
	Version uint16
	Kind    Kind
	Seq     uint64
	Created time.Time
}

// RecordType says what a record holds.
type RecordType uint8

// Record types.
const (
	RecordFull  RecordType = 1 // a host's whole state: replaces what came before
	RecordDelta RecordType = 2 // a host's state with only the samples stored since its previous record
	recordEnd   RecordType = 0x7f
)

// Record is one host's record.
type Record struct {
	Type RecordType
	Host Host
}

var (
	magic  = [8]byte{'H', 'B', 'D', 'S', 'T', 'A', 'T', 'E'}
	castag = crc32.MakeTable(crc32.Castagnoli)
)

const (
	headerSize = 32
	// maxPayload bounds one record.
	maxPayload = 256 << 20
)

// ErrVersion is wrapped by errors for a file of another format version.
var ErrVersion = errors.New("unsupported state format version")

func appendHeader(b []byte, h Header) []byte {
	start := len(b)
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint16(b, h.Version)
	b = append(b, byte(h.Kind), 0)
	b = binary.LittleEndian.AppendUint64(b, h.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Created.UnixNano()))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castag))
}

func parseHeader(b []byte) (Header, error) {
	if len(b) < headerSize {
		return Header{}, fmt.Errorf("header: %w", errShort)
	}
	if [8]byte(b[:8]) != magic {
		return Header{}, errors.New("not an hbd state file (bad magic)")
	}
	// The version comes before the checksum: another version's header
	// may be laid out differently.
	v := binary.LittleEndian.Uint16(b[8:10])
	if v < MinVersion || v > Version {
		return Header{Version: v}, fmt.Errorf("%w %d (this hbd reads versions %d to %d)", ErrVersion, v, MinVersion, Version)
	}
	if crc32.Checksum(b[:28], castag) != binary.LittleEndian.Uint32(b[28:32]) {
		return Header{}, errors.New("header checksum mismatch")
	}
	h := Header{
		Version: v,
		Kind:    Kind(b[10]),
		Seq:     binary.LittleEndian.Uint64(b[12:20]),
		Created: time.Unix(0, int64(binary.LittleEndian.Uint64(b[20:28]))),
	}
	if h.Kind != KindSnapshot && h.Kind != KindDelta {
		return h, fmt.Errorf("unknown file kind %d", h.Kind)
	}
	return h, nil
}

// Writer writes one state file. It writes under a temporary name and
// renames on Commit, so the file appears whole or not at all. Not safe for
// concurrent use.
type Writer struct {
	dir, name string
	tmp       *os.File
	buf       *bufio.Writer // the file
	z         *s2.Writer    // the compressed body, into buf
	count     int
	enc       []byte // reused encode buffer
	err       error
}

// FileName is the name of the file of kind k with sequence number seq.
func FileName(k Kind, seq uint64) string {
	prefix := "delta"
	if k == KindSnapshot {
		prefix = "snap"
	}
	return fmt.Sprintf("%s-%016x.hbds", prefix, seq)
}

// Create starts a file of kind k with sequence number seq in dir, creating
// dir if needed.
func Create(dir string, k Kind, seq uint64, created time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create the state directory: %w", err)
	}
	name := FileName(k, seq)
	f, err := os.OpenFile(filepath.Join(dir, tmpPrefix+name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cannot create a state file: %w", err)
	}
	w := &Writer{dir: dir, name: name, tmp: f, buf: bufio.NewWriterSize(f, 1<<20)}
	if _, err := w.buf.Write(appendHeader(make([]byte, 0, headerSize), Header{Version: Version, Kind: k, Seq: seq, Created: created})); err != nil {
		w.Abort()
		return nil, err
	}
	// The body is one s2 stream: sample JSON repeats its keys from sample
	// to sample and host to host, and one stream finds that across
	// records, at a fraction of the cost of compressing each record. One
	// block at a time on the caller's goroutine: the daemon's other core
	// belongs to ingest.
	w.z = s2.NewWriter(w.buf, s2.WriterConcurrency(1))
	return w, nil
}

// tmpPrefix marks files being written; Load removes leftovers.
const tmpPrefix = ".tmp-"

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.z.Write(b); err != nil {
		w.err = fmt.Errorf("cannot write %s: %w", w.tmp.Name(), err)
	}
}

// Add appends one host's record.
func (w *Writer) Add(t RecordType, h *Host) error {
	w.enc = AppendHost(w.enc[:0], h)
	w.frame(t, w.enc)
	w.count++
	return w.err
}

// frame writes type, flags (none yet), length, payload and the CRC of
// all of them.
func (w *Writer) frame(t RecordType, payload []byte) {
	const flags = 0
	if len(payload) > maxPayload {
		if w.err == nil {
			w.err = fmt.Errorf("a record of %d bytes is over the limit of %d", len(payload), maxPayload)
		}
		return
	}
	var head [2 + binary.MaxVarintLen64]byte
	head[0], head[1] = byte(t), flags
	n := 2 + binary.PutUvarint(head[2:], uint64(len(payload)))
	crc := crc32.Update(crc32.Checksum(head[:n], castag), castag, payload)
	w.write(head[:n])
	w.write(payload)
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], crc)
	w.write(tail[:])
}

// Count returns how many records were added.
func (w *Writer) Count() int { return w.count }

// Bytes returns the file's size, once committed.
func (w *Writer) Bytes() int64 {
	if fi, err := os.Stat(filepath.Join(w.dir, w.name)); err == nil {
		return fi.Size()
	}
	return 0
}

// Commit ends the file, syncs it and gives it its name. The file is durable
// when Commit returns nil. On error the temporary file is removed.
func (w *Writer) Commit() (string, error) {
	w.frame(recordEnd, binary.AppendUvarint(nil, uint64(w.count)))
	if w.err == nil {
		if err := w.z.Close(); err != nil {
			w.err = fmt.Errorf("cannot write %s: %w", w.tmp.Name(), err)
		}
	}
	if w.err == nil {
		if err := w.buf.Flush(); err != nil {
			w.err = fmt.Errorf("cannot write %s: %w", w.tmp.Name(), err)
		}
	}
	if w.err == nil {
		if err := w.tmp.Sync(); err != nil {
			w.err = fmt.Errorf("cannot sync %s: %w", w.tmp.Name(), err)
		}
	}
	if err := w.tmp.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("cannot close %s: %w", w.tmp.Name(), err)
	}
	final := filepath.Join(w.dir, w.name)
	if w.err == nil {
		if err := os.Rename(w.tmp.Name(), final); err != nil {
			w.err = fmt.Errorf("cannot rename the state file: %w", err)
		}
	}
	if w.err != nil {
		os.Remove(w.tmp.Name())
		return "", w.err
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(w.dir); err != nil {
		return final, err
	}
	return final, nil
}

// Abort drops the file.
func (w *Writer) Abort() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync the state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync the state directory: %w", err)
	}
	return nil
}

// ReadFile reads and checks a whole state file and decodes its records. It
// returns records only if the whole file is intact: any error means none
// of it may be used.
func ReadFile(path string) (Header, []Record, error) {
	h, recs, err := readFile(path)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, recs, nil
}

func readFile(path string) (Header, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	return Read(f)
}

// errTorn is a file that ends inside a record or before its end record.
var errTorn = errors.New("the file ends early (torn write?)")

// readErr says why a record could not be read: the file ended, or its
// compressed body is damaged (s2's own checks).
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTorn
	}
	// s2 reports a stream cut inside a block as corrupt, too.
	return fmt.Errorf("the file is damaged or cut short: %w", err)
}

// Read is ReadFile for a stream.
func Read(r io.Reader) (Header, []Record, error) {
	var hb [headerSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return Header{}, nil, fmt.Errorf("header: %w", errShort)
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return h, nil, err
	}
	// Two stages, so that restoring a large fleet uses two cores: a
	// goroutine decompresses and checks the frames (s2 checks each
	// block's CRC of its own; the records' CRCs stay, so a bug on either
	// side of the compression cannot pass unnoticed), this one decodes
	// the records.
	frames := make(chan frame, 256)
	stop := make(chan struct{})
	go readFrames(s2.NewReader(r, s2.ReaderMaxBlockSize(4<<20)), frames, stop)
	defer func() {
		close(stop)
		for range frames { // wait for the reader to finish
		}
	}()
	recs := make([]Record, 0, 1024)
	for i := 0; ; i++ {
		f, ok := <-frames
		if !ok {
			return h, nil, fmt.Errorf("record %d: %w", i, errTorn)
		}
		if f.err != nil {
			return h, nil, fmt.Errorf("record %d: %w", i, f.err)
		}
		switch f.t {
		case recordEnd:
			d := decoder{b: f.payload}
			n := d.uvarint()
			if d.err != nil || len(d.b) != 0 {
				return h, nil, fmt.Errorf("record %d: bad end record", i)
			}
			if n != uint64(len(recs)) {
				return h, nil, fmt.Errorf("end record counts %d records, the file has %d", n, len(recs))
			}
			return h, recs, nil
		case RecordFull, RecordDelta:
			if h.Kind == KindSnapshot && f.t != RecordFull {
				return h, nil, fmt.Errorf("record %d: a delta record in a snapshot", i)
			}
			host, err := decodeHost(f.payload, h.Version)
			if err != nil {
				return h, nil, fmt.Errorf("record %d: %w", i, err)
			}
			recs = append(recs, Record{Type: f.t, Host: host})
		default:
			return h, nil, fmt.Errorf("record %d: unknown record type %d", i, f.t)
		}
	}
}

// frame is one record as read, or why it could not be.
type frame struct {
	t       RecordType
	payload []byte
	err     error
}

// readFrames reads frames until the end record, an error or stop, and
// closes frames. After the end record it checks that nothing follows.
func readFrames(zr *s2.Reader, frames chan<- frame, stop <-chan struct{}) {
	defer close(frames)
	for {
		t, payload, err := readFrame(zr, zr)
		if err == nil && t == recordEnd {
			// Anything after the end record is corruption too.
			if _, rerr := zr.ReadByte(); rerr != io.EOF {
				err = errors.New("data after the end record")
				if rerr != nil {
					err = readErr(rerr)
				}
			}
		}
		select {
		case frames <- frame{t: t, payload: payload, err: err}:
		case <-stop:
			return
		}
		if err != nil || t == recordEnd {
			return
		}
	}
}

// readFrame reads one record and checks its CRC; the payload is returned
// in a buffer of its own.
func readFrame(r io.Reader, br io.ByteReader) (RecordType, []byte, error) {
	var head [2 + binary.MaxVarintLen64]byte
	if _, err := io.ReadFull(r, head[:2]); err != nil {
		return 0, nil, readErr(err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, nil, readErr(err)
	}
	if n > maxPayload {
		return 0, nil, fmt.Errorf("record length %d is over the limit", n)
	}
	hn := 2 + binary.PutUvarint(head[2:], n)
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, readErr(err)
	}
	var cb [4]byte
	if _, err := io.ReadFull(r, cb[:]); err != nil {
		return 0, nil, readErr(err)
	}
	if crc32.Update(crc32.Checksum(head[:hn], castag), castag, payload) != binary.LittleEndian.Uint32(cb[:]) {
		return 0, nil, errors.New("checksum mismatch")
	}
	if head[1] != 0 {
		return 0, nil, fmt.Errorf("unknown record flags %#x", head[1])
	}
	return RecordType(head[0]), payload, nil
}
