package notify

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"strconv"
)

// IDHeader is the HTTP header that carries a notification's ID on webhook
// requests, for receivers that deduplicate.
const IDHeader = "X-Hbd-Notification-Id"

// ID identifies the event n tells of: the same transition of the same alert
// gets the same ID whichever daemon sends it and however often. In a
// cluster, a member killed between a delivery and the replication of
// "notified" leaves the new owner to send it once more (see docs/STATE.md);
// a receiver that drops IDs it has seen gets it once, as Alertmanager's
// receivers do with its HA peers' at-least-once delivery. A repeat counts
// the notifications before it, so each repeat is an event of its own; a
// group's ID is made from its members'.
func (n Notification) ID() string {
	h := fnv.New128a()
	n.hashID(h)
	return hex.EncodeToString(h.Sum(nil))
}

// hashID writes what identifies n to h, each field followed by a 0 byte
// (no field holds one) so that "ab"+"c" and "a"+"bc" differ.
func (n Notification) hashID(h interface{ Write([]byte) (int, error) }) {
	field := func(s string) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	field(n.Kind)
	field(n.Host)
	field(n.MetricPath)
	field(n.PrevLevel)
	field(n.Level)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n.Since.UnixNano()))
	_, _ = h.Write(b[:])
	if n.Kind == KindRepeat {
		field(strconv.Itoa(n.NotificationCount))
	}
	for _, m := range n.Members {
		m.hashID(h)
	}
}
