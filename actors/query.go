package actors

// Answer is what a query returns: the answer's JSON, encoded once by the
// actor that owns the data (internal/contract), or what the query named
// that does not exist. Choosing status codes and error texts is the
// caller's job (the http package).
type Answer struct {
	Body    []byte  // nil unless Missing is MissingNothing
	Missing Missing // what was not found
}

// Missing says what a query named that does not exist.
type Missing uint8

// What a query may not find.
const (
	MissingNothing Missing = iota // found: Body is the answer
	MissingHost                   // no such host
	MissingPlugin                 // the host has no such plugin
)

// NoAnswerError is returned by a query whose actor did not answer before
// the caller's context ended: the daemon is overloaded.
type NoAnswerError struct {
	Actor string // which actor: "host", "journal"
}

func (e *NoAnswerError) Error() string {
	return "the " + e.Actor + "'s actor did not answer in time"
}
