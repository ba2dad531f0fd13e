package actors

import "github.com/hbd-project/hbd/actors/broadcast"

// The benchmarks' view of how summaries are read and snapshots built, so
// that the same benchmarks run against the code before and after summaries
// were encoded on first read and snapshots shared per publication.

func summaryJSON(s *HostSummary) []byte { return s.JSON() }

// warmSummary encodes s's object now, as the HostActor does when a
// WebSocket client listens.
func warmSummary(s *HostSummary) { s.JSON() }

// snapshotFrames builds the snapshot frames of clients that subscribe
// within the fleet's current publication, as the hub and their writers do,
// and returns their bytes.
func snapshotFrames(f *Fleet, clients int) int {
	src := streamSnapshots(f)
	n := 0
	for range clients {
		n += len((&broadcast.Snapshot{Hosts: src()}).Frame())
	}
	return n
}
