package notify

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// SMSConfig configures an SMS channel.
type SMSConfig struct {
	Name       string
	APIURL     string // default "https://api.twilio.com"
	AccountSID string
	AuthToken  string
	From       string   // the sender: a number, a sender id or a messaging service SID
	To         []string // numbers in international format
	Timeout    time.Duration
}

// SMS sends each notification as a text message through Twilio's Messages
// API or a gateway that speaks it: per recipient, a form POST to
// /2010-04-01/Accounts/{AccountSid}/Messages.json with To, From and Body,
// authenticated with the account SID and auth token (basic auth).
type SMS struct {
	endpoint string
	account  string
	token    string
	from     string
	to       []string
	post     *poster
}

// smsBodyMax bounds the body (bytes): Twilio takes up to 1,600 characters,
// sent as several segments; an alert fits in a few.
const smsBodyMax = 640

// NewSMS checks c and returns the channel.
func NewSMS(c SMSConfig) (*SMS, error) {
	name := defaultName(c.Name, "sms")
	if err := required("sms", name, "account SID", c.AccountSID, "auth token", c.AuthToken, "from", c.From); err != nil {
		return nil, err
	}
	if len(c.To) == 0 {
		return nil, required("sms", name, "recipients", "")
	}
	base, err := baseURL("sms", name, c.APIURL, "https://api.twilio.com")
	if err != nil {
		return nil, err
	}
	return &SMS{
		endpoint: base + "/2010-04-01/Accounts/" + escapePathSegment(c.AccountSID) + "/Messages.json",
		account:  c.AccountSID, token: c.AuthToken, from: c.From, to: append([]string(nil), c.To...),
		post: newPoster("sms", name, c.Timeout),
	}, nil
}

// Name returns the channel's configured name.
func (s *SMS) Name() string { return s.post.name }

// Send sends n to every recipient, one request each, and returns the
// errors of those that failed. A retry sends to every recipient again:
// Twilio's API has no idempotency key, and a duplicate text is better than
// a missed one.
func (s *SMS) Send(ctx context.Context, n Notification) error {
	text := render(n, plainMarkup, true, smsBodyMax)
	var retry, final []error
	for _, to := range s.to {
		form := url.Values{"To": {to}, "From": {s.from}, "Body": {text}}
		err := s.post.do(ctx, request{url: s.endpoint, contentType: formType, body: []byte(form.Encode()), user: s.account, pass: s.token})
		var se *HTTPStatusError
		switch {
		case err == nil:
		case errors.As(err, &se) && !se.Temporary():
			final = append(final, err)
		default:
			retry = append(retry, err)
		}
	}
	// The dispatcher looks at the first status error: one a retry may
	// cure goes first, so a bad number does not stop the others' retries.
	return errors.Join(append(retry, final...)...)
}

// Close closes the channel's idle connections.
func (s *SMS) Close() error { return s.post.Close() }

var _ Channel = (*SMS)(nil)
