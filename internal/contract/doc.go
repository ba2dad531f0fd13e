// Package contract is hbd's public JSON: the encoders of every body the
// HTTP API answers (/api/0/...) and of every WebSocket frame, and the
// decoder of the one body it takes (a silence). The field names of the
// public API are written here and nowhere else; the user's API document,
// README.md's "HTTP API" section and docs/WEBSOCKET.md describe them, and
// the golden files in testdata pin them byte for byte.
//
// The encoders append to byte slices rather than use encoding/json: the
// HostActors and the fleet index encode on every change, once, at the
// owner of the data, and stored plugin samples are already JSON that is
// embedded as it is. The rare bodies (silences, the WebSocket error frame)
// use encoding/json, whose escaping they have always had.
//
// Encoders take plain values and never keep them; every function is safe
// for concurrent use. Choosing status codes and error texts is not the
// contract's job: the http package does that.
package contract
