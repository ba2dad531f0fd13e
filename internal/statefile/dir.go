package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is one state file as read.
type File struct {
	Path    string
	Header  Header
	Records int
	Size    int64 // bytes on disk
}

// Problem is a file that could not be used, and what was done about it.
type Problem struct {
	Path   string
	Err    error
	Action string // e.g. "renamed to snap-…hbds.corrupt"; "" when nothing was done
}

func (p Problem) String() string {
	if p.Action == "" {
		return fmt.Sprintf("%s: %v", p.Path, p.Err)
	}
	return fmt.Sprintf("%s: %v (%s)", p.Path, p.Err, p.Action)
}

// HostRecords are one host's records in the order they apply. Load merges
// them into one: the newest small state, and the samples and RTT windows of
// every record in order (a full record first, from the snapshot or a later delta's,
// when there is one). Each record's plugin rings are copies of their own.
type HostRecords struct {
	Name    string
	Records []*Record
}

// State is what a state directory holds.
type State struct {
	Dir      string
	Snapshot *File // the snapshot the state starts from; nil if none
	Deltas   []File
	Problems []Problem
	Hosts    []HostRecords // sorted by name
	// Newest is when the newest file used was written: the checkpoint age
	// is the time since.
	Newest time.Time
	// NextSeq is the sequence number for the next file written.
	NextSeq uint64
	// Records, Samples and Alerts count what the files used hold (samples
	// of deltas included; a ring keeps at most its history).
	Records, Samples, Alerts int
}

// Bytes is the size on disk of the files used.
func (s *State) Bytes() (snapshot, deltas int64) {
	if s.Snapshot != nil {
		snapshot = s.Snapshot.Size
	}
	for _, d := range s.Deltas {
		deltas += d.Size
	}
	return snapshot, deltas
}

type entry struct {
	name string
	kind Kind
	seq  uint64
}

// parseName parses "snap-<seq>.hbds" and "delta-<seq>.hbds".
func parseName(name string) (entry, bool) {
	base, ok := strings.CutSuffix(name, ".hbds")
	if !ok {
		return entry{}, false
	}
	var k Kind
	var hex string
	switch {
	case strings.HasPrefix(base, "snap-"):
		k, hex = KindSnapshot, base[len("snap-"):]
	case strings.HasPrefix(base, "delta-"):
		k, hex = KindDelta, base[len("delta-"):]
	default:
		return entry{}, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || len(hex) != 16 {
		return entry{}, false
	}
	return entry{name: name, kind: k, seq: seq}, true
}

// UnsupportedDir is the subdirectory files of another format version are
// moved to.
const UnsupportedDir = "unsupported"

// Load reads the state in dir for a daemon that is starting: the newest
// intact snapshot and the intact deltas after it. Files that cannot be used
// are set aside (see the package documentation) and listed in Problems;
// they never stop the load. Leftover temporary files of an interrupted
// write are removed. A missing dir is an empty state. The error is only for
// a directory that cannot be read at all.
func Load(dir string) (*State, error) { return scan(dir, true) }

// Check is Load without side effects: it reads every file, reports what
// Load would use and what it would set aside, and changes nothing.
func Check(dir string) (*State, error) { return scan(dir, false) }

func scan(dir string, act bool) (*State, error) {
	st := &State{Dir: dir, NextSeq: 1}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the state directory: %w", err)
	}
	var snaps, deltas []entry
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			p := filepath.Join(dir, name)
			pr := Problem{Path: p, Err: errors.New("unfinished write (the daemon stopped while writing it)")}
			if act {
				if err := os.Remove(p); err != nil {
					pr.Action = "cannot remove it: " + err.Error()
				} else {
					pr.Action = "removed"
				}
			}
			st.Problems = append(st.Problems, pr)
			continue
		}
		if strings.HasSuffix(name, ".corrupt") {
			if e, ok := parseName(strings.TrimSuffix(name, ".corrupt")); ok {
				st.NextSeq = max(st.NextSeq, e.seq+1)
			}
			continue
		}
		e, ok := parseName(name)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		st.NextSeq = max(st.NextSeq, e.seq+1)
		if e.kind == KindSnapshot {
			snaps = append(snaps, e)
		} else {
			deltas = append(deltas, e)
		}
	}
	bySeq := func(a, b entry) int { return cmpU64(a.seq, b.seq) }
	slices.SortFunc(snaps, bySeq)
	slices.SortFunc(deltas, bySeq)

	hosts := map[string]*HostRecords{}
	use := func(f File, recs []Record) {
		if f.Header.Created.After(st.Newest) {
			st.Newest = f.Header.Created
		}
		for i := range recs {
			r := &recs[i]
			hr := hosts[r.Host.Name]
			if hr == nil {
				hr = &HostRecords{Name: r.Host.Name}
				hosts[r.Host.Name] = hr
			}
			st.Records++
			st.Samples += r.Host.Samples()
			if r.Type == RecordFull || len(hr.Records) == 0 {
				hr.Records = append(hr.Records[:0], copyRecord(r))
				continue
			}
			// A delta's small state is whole: it replaces the one before,
			// and its samples follow the ones before. Merged so, a host
			// holds one record, however many deltas there are: 64 deltas of
			// 100,000 hosts would otherwise be 6.4 million records in memory.
			// Its RTT windows, like its samples, add to the ones before.
			last := hr.Records[len(hr.Records)-1]
			plugins := append(last.Host.Plugins, r.Host.Plugins...)
			rtts := append(last.Host.RTTs, r.Host.RTTs...)
			last.Host = r.Host
			last.Host.Plugins, last.Host.RTTs = plugins, rtts
		}
	}

	// The newest snapshot that reads whole is the base.
	var base uint64
	for i := len(snaps) - 1; i >= 0 && st.Snapshot == nil; i-- {
		f, recs, ok := st.read(dir, snaps[i], act)
		if ok {
			st.Snapshot = &f
			base = snaps[i].seq
			use(f, recs)
		}
	}
	for _, e := range deltas {
		if st.Snapshot != nil && e.seq < base {
			continue // older than the base: Prune removes it
		}
		if f, recs, ok := st.read(dir, e, act); ok {
			st.Deltas = append(st.Deltas, f)
			use(f, recs)
		}
	}
	st.Hosts = make([]HostRecords, 0, len(hosts))
	for _, hr := range hosts {
		st.Hosts = append(st.Hosts, *hr)
	}
	slices.SortFunc(st.Hosts, func(a, b HostRecords) int { return strings.Compare(a.Name, b.Name) })
	for _, hr := range st.Hosts {
		last := hr.Records[len(hr.Records)-1]
		st.Alerts += len(last.Host.Alerts)
	}
	return st, nil
}

// copyRecord returns r on its own, so that the file's slice of records can
// go once every record was used. What a record holds is its own already:
// decoding copies rings and samples out of the file's buffers.
func copyRecord(r *Record) *Record {
	c := *r
	return &c
}

// read reads one file; a file that cannot be used is recorded as a problem
// and, when act is set, set aside.
func (st *State) read(dir string, e entry, act bool) (File, []Record, bool) {
	p := filepath.Join(dir, e.name)
	h, recs, err := readFile(p)
	if err == nil && (h.Kind != e.kind || h.Seq != e.seq) {
		err = fmt.Errorf("the header says %s %d, the name %s %d", h.Kind, h.Seq, e.kind, e.seq)
	}
	if err != nil {
		pr := Problem{Path: p, Err: err}
		if act {
			pr.Action = setAside(dir, e.name, errors.Is(err, ErrVersion))
		}
		st.Problems = append(st.Problems, pr)
		return File{}, nil, false
	}
	f := File{Path: p, Header: h, Records: len(recs)}
	if fi, err := os.Stat(p); err == nil {
		f.Size = fi.Size()
	}
	return f, recs, true
}

// setAside moves a file that cannot be used out of the way, so that it is
// neither loaded again nor overwritten nor pruned: another format version
// into unsupported/, a corrupt file to *.corrupt.
func setAside(dir, name string, version bool) string {
	from := filepath.Join(dir, name)
	if version {
		to := filepath.Join(dir, UnsupportedDir, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
			return "cannot move it aside: " + err.Error()
		}
		if err := os.Rename(from, to); err != nil {
			return "cannot move it aside: " + err.Error()
		}
		return "moved to " + to
	}
	to := from + ".corrupt"
	if err := os.Rename(from, to); err != nil {
		return "cannot rename it: " + err.Error()
	}
	return "renamed to " + to
}

// Prune removes the snapshots and deltas older than the snapshot with
// sequence number base, once that snapshot is durable. Files set aside are
// kept.
func Prune(dir string, base uint64) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read the state directory: %w", err)
	}
	var errs []error
	for _, de := range des {
		e, ok := parseName(de.Name())
		if !ok || e.seq >= base {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
