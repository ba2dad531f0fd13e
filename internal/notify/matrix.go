package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// MatrixConfig configures a Matrix channel.
type MatrixConfig struct {
	Name        string
	APIURL      string // the homeserver, e.g. "https://matrix.example.org"
	AccessToken string
	Room        string // a room id, "!abc:example.org"
	Timeout     time.Duration
}

// Matrix posts each notification to a room as an m.notice (the msgtype
// for bots, which clients do not answer) through the client-server API:
//
//	PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}
//
// with a plain body and an HTML formatted_body. The transaction id is a
// hash of the channel and the notification, so a retry of a send whose
// answer was lost is the same event to the homeserver, not a second one.
type Matrix struct {
	sendURL string // up to and including ".../send/m.room.message/"
	token   string
	post    *poster
}

// matrixBodyMax bounds each of body and formatted_body (bytes); an event
// may have 65,536 in all.
const matrixBodyMax = 16000

// NewMatrix checks c and returns the channel.
func NewMatrix(c MatrixConfig) (*Matrix, error) {
	name := defaultName(c.Name, "matrix")
	if err := required("matrix", name, "api_url", c.APIURL, "access token", c.AccessToken, "room", c.Room); err != nil {
		return nil, err
	}
	base, err := baseURL("matrix", name, c.APIURL, "")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(c.Room, "!") {
		return nil, fmt.Errorf("matrix %s: room %q: want a room id, \"!abc:example.org\"", name, c.Room)
	}
	return &Matrix{
		sendURL: base + "/_matrix/client/v3/rooms/" + escapePathSegment(c.Room) + "/send/m.room.message/",
		token:   c.AccessToken,
		post:    newPoster("matrix", name, c.Timeout),
	}, nil
}

// Name returns the channel's configured name.
func (m *Matrix) Name() string { return m.post.name }

type matrixMessage struct {
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format"`
	FormattedBody string `json:"formatted_body"`
}

// Send puts n into the room as one event.
func (m *Matrix) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(matrixMessage{
		MsgType:       "m.notice",
		Body:          render(n, plainMarkup, true, matrixBodyMax),
		Format:        "org.matrix.custom.html",
		FormattedBody: render(n, htmlMarkup("<br>"), true, matrixBodyMax),
	})
	if err != nil {
		return m.post.wrap(err)
	}
	return m.post.do(ctx, request{
		method:      http.MethodPut,
		url:         m.sendURL + m.txnID(n),
		contentType: "application/json",
		header:      http.Header{"Authorization": {"Bearer " + m.token}},
		body:        body,
	})
}

// txnID is the event's transaction id: the same for every attempt at one
// notification on this channel, different for any other.
func (m *Matrix) txnID(n Notification) string {
	h := sha256.New()
	h.Write([]byte(m.post.name))
	h.Write([]byte{0})
	h.Write(n.appendJSON(nil))
	return "hbd-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Close closes the channel's idle connections.
func (m *Matrix) Close() error { return m.post.Close() }

// escapePathSegment percent-encodes everything but RFC 3986's unreserved
// characters, as the Matrix specification's examples do
// ("!abc:example.org" is "%21abc%3Aexample.org"); url.PathEscape would
// leave ':' and others as they are.
func escapePathSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

var _ Channel = (*Matrix)(nil)
