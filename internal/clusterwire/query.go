package clusterwire

import (
	"encoding/binary"
	"fmt"
)

// Bounds of the query frames.
const (
	MaxQueryURI   = 8 << 10  // path and query string of a per-host API request
	MaxReplyBody  = 32 << 20 // the owner's answer (a host's samples at most)
	maxReplyHdrs  = 16
	maxHeaderText = 1 << 10
)

// Query is a per-host API request (GET) a member passes to the host's
// owner: the request URI, path and query string, as the client sent it.
// The owner answers it as if it came from its own listener, having
// trusted the asking member to check the client's token.
type Query struct {
	Origin string // the asking member's advertised address
	URI    string
}

// QueryReply is the owner's answer to a Query: status, content type, the
// headers the API sets beyond those (X-Total-Count, ...) and the body.
type QueryReply struct {
	Status      int
	ContentType string
	Headers     [][2]string
	Body        []byte
}

// AppendQuery appends a KindQuery frame.
func AppendQuery(b []byte, q *Query) []byte {
	b = AppendHeader(b, KindQuery)
	b = appendString(b, q.Origin)
	b = binary.AppendUvarint(b, uint64(len(q.URI)))
	return append(b, q.URI...)
}

// DecodeQuery decodes a KindQuery frame's body.
func DecodeQuery(body []byte) (Query, error) {
	d := decoder{b: body}
	var q Query
	q.Origin = d.str("origin")
	q.URI = string(d.bytes("uri", MaxQueryURI))
	if d.err == nil && (q.URI == "" || q.URI[0] != '/') {
		d.fail(fmt.Errorf("uri %q does not start with /", q.URI))
	}
	if err := d.end(); err != nil {
		return Query{}, fmt.Errorf("query frame: %w", err)
	}
	return q, nil
}

// AppendQueryReply appends a KindQueryReply frame.
func AppendQueryReply(b []byte, r *QueryReply) []byte {
	b = AppendHeader(b, KindQueryReply)
	b = binary.AppendUvarint(b, uint64(r.Status))
	b = appendString(b, r.ContentType)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		b = appendString(b, h[0])
		b = appendString(b, h[1])
	}
	b = binary.AppendUvarint(b, uint64(len(r.Body)))
	return append(b, r.Body...)
}

// DecodeQueryReply decodes a KindQueryReply frame's body. The body
// aliases the frame.
func DecodeQueryReply(body []byte) (QueryReply, error) {
	d := decoder{b: body}
	var r QueryReply
	st := d.uvarint("status")
	if d.err == nil && (st < 100 || st > 599) {
		d.fail(fmt.Errorf("status %d", st))
	}
	r.Status = int(st)
	r.ContentType = string(d.bytes("content type", maxHeaderText))
	if d.err == nil && !printable(r.ContentType) {
		d.fail(fmt.Errorf("content type %q: control characters", r.ContentType))
	}
	n := d.bounded("headers", maxReplyHdrs)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.name("header name")
		v := string(d.bytes("header value", maxHeaderText))
		if d.err == nil && (!printable(k) || !printable(v)) {
			d.fail(fmt.Errorf("header %q: control characters", k))
		}
		r.Headers = append(r.Headers, [2]string{k, v})
	}
	r.Body = d.bytes("body", MaxReplyBody)
	if err := d.end(); err != nil {
		return QueryReply{}, fmt.Errorf("query reply frame: %w", err)
	}
	return r, nil
}

// printable reports whether s is printable ASCII, as a header must be
// before it is copied into an HTTP response.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
