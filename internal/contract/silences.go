package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/hbd-project/hbd/internal/silence"
)

// Silences are rare (a person or an agent adds one now and then), so their
// bodies use encoding/json: the answers keep its escaping, and the request
// is decoded strictly.

// silenceObject is a silence as the API shows it, times in unix seconds.
type silenceObject struct {
	ID      string  `json:"id"`
	Host    string  `json:"host"`
	Metric  string  `json:"metric"`
	Comment string  `json:"comment"`
	Origin  string  `json:"origin"`
	Until   float64 `json:"until"`
	Created float64 `json:"created"`

	// A maintenance window's fields (absent for a one-shot silence): its
	// schedule, zone and (cron form) duration in seconds; the window open
	// now, or else the next one (next_start, next_end, unix seconds; until
	// is next_end); whether it is open; a [[maintenance]] window's name.
	Name      string   `json:"name,omitempty"`
	Schedule  string   `json:"schedule,omitempty"`
	Timezone  string   `json:"timezone,omitempty"`
	Duration  *float64 `json:"duration,omitempty"`
	NextStart *float64 `json:"next_start,omitempty"`
	NextEnd   *float64 `json:"next_end,omitempty"`
	Active    *bool    `json:"active,omitempty"`
}

func silenceObjectOf(s *silence.Silence, now time.Time) silenceObject {
	o := silenceObject{ID: s.ID, Host: s.Host, Metric: s.Metric, Comment: s.Comment, Origin: s.Origin,
		Until: unixSeconds(s.Until), Created: unixSeconds(s.Created), Name: s.Name}
	if s.Schedule != nil {
		d, start, end, active := s.Schedule.Duration().Seconds(), unixSeconds(s.Window.Start), unixSeconds(s.Window.End), s.Window.Contains(now)
		o.Schedule, o.Timezone, o.NextStart, o.NextEnd, o.Active = s.Schedule.String(), s.Schedule.Zone().String(), &start, &end, &active
		if d > 0 {
			o.Duration = &d
		}
		o.Until = end
	}
	return o
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// SilenceBody is the answer of POST /api/0/silences: the silence added,
// with its id; now tells whether a window is open.
func SilenceBody(s *silence.Silence, now time.Time) []byte {
	b, _ := json.Marshal(silenceObjectOf(s, now))
	return b
}

// SilencesBody is the answer of GET /api/0/silences: {"silences":[...]}.
func SilencesBody(list []silence.Silence, now time.Time) []byte {
	out := make([]silenceObject, len(list))
	for i := range list {
		out[i] = silenceObjectOf(&list[i], now)
	}
	b, _ := json.Marshal(struct {
		Silences []silenceObject `json:"silences"`
	}{out})
	return b
}

// DeletedBody is the answer of DELETE /api/0/silences/{id}: {"deleted":id}.
func DeletedBody(id string) []byte {
	b := append(make([]byte, 0, len(id)+16), `{"deleted":`...)
	b = appendString(b, id)
	return append(b, '}')
}

// SilenceRequest is the body of POST /api/0/silences. Until is unix
// seconds (nil: not given); Duration ("2h") may be given instead. With a
// Schedule it is a recurring maintenance window in Timezone, and Duration
// is a cron schedule's window length.
type SilenceRequest struct {
	Host     string
	Metric   string
	Until    *float64
	Duration string
	Comment  string
	Schedule string
	Timezone string
}

// silenceRequest is SilenceRequest's JSON form. Its name shows in the
// decoder's errors ("Go struct field silenceRequest.until"), which the API
// returns as they are.
type silenceRequest struct {
	Host     string   `json:"host"`
	Metric   string   `json:"metric"`
	Until    *float64 `json:"until"`
	Duration string   `json:"duration"`
	Comment  string   `json:"comment"`
	Schedule string   `json:"schedule"`
	Timezone string   `json:"timezone"`
}

// DecodeSilenceRequest decodes body as one SilenceRequest object: unknown
// fields and anything after the object are errors. It checks the shape
// only; what the values mean is the caller's to check.
func DecodeSilenceRequest(body []byte) (SilenceRequest, error) {
	var req silenceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return SilenceRequest{}, err
	}
	// One JSON object and nothing after it: a body that is more is not
	// what the client meant, and guessing is how parsers get smuggled past.
	if _, err := dec.Token(); err != io.EOF {
		return SilenceRequest{}, errors.New("unexpected data after the JSON object")
	}
	return SilenceRequest(req), nil
}
