package deadman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds how much of an answer is read (bytes), so that the
// connection can be reused without a large body costing anything.
const maxBody = 64 << 10

// urlPinger requests one URL.
type urlPinger struct {
	url, method string
	desc        string // scheme://host, for logs: the path of a check URL is often its secret
	transport   *http.Transport
	client      *http.Client
}

func newURLPinger(raw, method string) (*urlPinger, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("deadman: url must be an absolute http or https URL, got %q", raw)
	}
	method = strings.ToUpper(method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("deadman: method must be GET or POST, got %q", method)
	}
	// A transport of its own, honouring the proxy environment like the
	// default one, so Stop can close its idle connections.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &urlPinger{
		url: raw, method: method, desc: u.Scheme + "://" + u.Host,
		transport: tr, client: &http.Client{Transport: tr},
	}, nil
}

// ping makes one request; a status of 400 or more is a failure, since
// check services answer 404 for an unknown check and 5xx when they are
// in trouble.
func (p *urlPinger) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, nil)
	if err != nil {
		return fmt.Errorf("cannot build the request: %w", err)
	}
	req.Header.Set("User-Agent", "hbd-deadman")
	resp, err := p.client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, secret included; keep its cause.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", p.method, p.desc, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s %s: answered %s", p.method, p.desc, resp.Status)
	}
	return nil
}

func (p *urlPinger) close() { p.transport.CloseIdleConnections() }
