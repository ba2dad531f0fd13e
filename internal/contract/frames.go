package contract

import "iter"

// WebSocket frames: every frame is one JSON object {"type": ..., "data": ...}
// (docs/WEBSOCKET.md). The frames of host, plugin, alert and message are
// built by the actor that owns the data, once, whatever the number of
// clients; snapshot frames by the broadcaster, per subscription.

// The frame types, as clients name them in a subscription's "types".
const (
	FrameSnapshot = "snapshot"
	FrameHost     = "host"
	FramePlugin   = "plugin"
	FrameAlert    = "alert"
	FrameMessage  = "message"
	FrameError    = "error"
)

const snapshotHead, snapshotTail = `{"type":"snapshot","data":{"hosts":[`, `]}}`

// SnapshotSize is the size of the snapshot frame holding hosts, for sizing
// its buffer (at most one byte more than it needs).
func SnapshotSize(hosts [][]byte) int {
	n := len(snapshotHead) + len(snapshotTail)
	for _, o := range hosts {
		n += len(o) + 1
	}
	return n
}

// AppendSnapshot appends the snapshot frame of hosts, each an encoded host
// object (AppendHost): {"type":"snapshot","data":{"hosts":[...]}}.
func AppendSnapshot(b []byte, hosts [][]byte) []byte {
	b = append(b, snapshotHead...)
	for i, o := range hosts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o...)
	}
	return append(b, snapshotTail...)
}

const hostFrameHead = `{"type":"host","data":`

// SnapshotSizeOf is SnapshotSize of the host objects hosts yields.
func SnapshotSizeOf(hosts iter.Seq[[]byte]) int {
	n := len(snapshotHead) + len(snapshotTail)
	for o := range hosts {
		n += len(o) + 1
	}
	return n
}

// AppendSnapshotOf is AppendSnapshot of the host objects hosts yields.
func AppendSnapshotOf(b []byte, hosts iter.Seq[[]byte]) []byte {
	b = append(b, snapshotHead...)
	first := true
	for o := range hosts {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, o...)
	}
	return append(b, snapshotTail...)
}

// HostFrame is the frame of a host that changed: {"type":"host","data":host},
// host being an encoded host object (AppendHost).
func HostFrame(host []byte) []byte {
	b := make([]byte, 0, len(host)+len(hostFrameHead)+1)
	b = append(b, hostFrameHead...)
	b = append(b, host...)
	return append(b, '}')
}

// EncodeHostFrame encodes h once as both its host frame and its host
// object: obj is frame's "data", sharing its bytes, so a host that
// changed while WebSocket clients listen costs one encoding and one
// buffer for the stream and the API together. Both are the bytes
// HostFrame(EncodeHost(h)) and EncodeHost(h) would be.
func EncodeHostFrame(h *Host) (frame, obj []byte) {
	frame = append(make([]byte, 0, hostSize(h)+len(hostFrameHead)+1), hostFrameHead...)
	frame = AppendHost(frame, h)
	obj = frame[len(hostFrameHead):len(frame):len(frame)]
	return append(frame, '}'), obj
}
