package contract

import "encoding/json"

// ErrorBody is the object every API error answers: {"error": msg}.
func ErrorBody(msg string) []byte {
	return AppendError(make([]byte, 0, len(msg)+16), msg)
}

// AppendError appends the API's error object {"error": msg}.
func AppendError(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// ErrorFrame is the WebSocket frame answering a client message that is not
// a valid subscription: {"type":"error","data":{"error":msg}}. It is rare,
// and keeps encoding/json's escaping of the client's text (<, >, &).
func ErrorFrame(msg string) []byte {
	type data struct {
		Error string `json:"error"`
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data data   `json:"data"`
	}{"error", data{msg}})
	return b
}
