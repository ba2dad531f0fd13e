package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serviceRequest is one request the stand-in services received.
type serviceRequest struct {
	method, uri, auth, contentType string
	body                           map[string]any
}

// servicesServer is one real HTTP server on loopback standing in for
// Matrix, Telegram, ntfy and Slack: each channel's api_url or url points
// at it, and the path tells them apart. The first Matrix request gets a
// 503, so the dispatcher's retry is part of the test.
type servicesServer struct {
	mu         sync.Mutex
	got        []serviceRequest
	matrixSeen int
	url        string
}

func newServicesServer(t *testing.T) *servicesServer {
	t.Helper()
	s := &servicesServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s %s: body is not JSON: %q", r.Method, r.RequestURI, raw)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, serviceRequest{method: r.Method, uri: r.RequestURI, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), body: body})
		if strings.HasPrefix(r.URL.Path, "/_matrix/") {
			s.matrixSeen++
			if s.matrixSeen == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, `{"event_id":"$e"}`)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// find returns the requests whose path starts with prefix.
func (s *servicesServer) find(prefix string) []serviceRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []serviceRequest
	for _, r := range s.got {
		if strings.HasPrefix(r.uri, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// A real daemon raises a threshold alert from a real datagram and
// delivers it to Matrix, Telegram, ntfy and Slack, each request in the
// shape its service documents; Matrix's first answer is a 503, and the
// retry is the same transaction.
func TestServiceChannelsDeliverAlert(t *testing.T) {
	svc := newServicesServer(t)
	tokenFile := filepath.Join(t.TempDir(), "telegram-token")
	if err := os.WriteFile(tokenFile, []byte("123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf(`watchhosts = ["web01"]

[[threshold]]
metric = "cpu_monitor.cpu_percent"
critical = 90.0

[[notify]]
type = "matrix"
group = false
api_url = %[1]q
token = "syt_e2e"
room = "!ops:example.org"

[[notify]]
type = "telegram"
group = false
api_url = %[1]q
token_file = %[2]q
chat_id = "-1001234567890"

[[notify]]
type = "ntfy"
group = false
api_url = %[1]q
topic = "hbd-e2e"
token = "tk_e2e"

[[notify]]
type = "slack"
group = false
url = "%[1]s/services/T000/B000/XXXX"
`, svc.url, tokenFile))

	s := newSender(t, d, "web01", d.key, false)
	s.heartbeat(time.Second, 1)
	s.sample("cpu_monitor", `{"cpu_percent": 97.5}`)

	waitFor(t, 30*time.Second, "the alert at all four services, Matrix retried", func() bool {
		return len(svc.find("/_matrix/")) >= 2 && len(svc.find("/bot")) >= 1 && len(svc.find("/services/")) >= 1 && len(svc.ntfy()) >= 1
	})

	mx := svc.find("/_matrix/")
	if mx[0].uri != mx[1].uri || !strings.HasPrefix(mx[0].uri, "/_matrix/client/v3/rooms/%21ops%3Aexample.org/send/m.room.message/hbd-") {
		t.Errorf("matrix requests went to %s then %s: want the room's send path, one transaction", mx[0].uri, mx[1].uri)
	}
	if mx[1].method != http.MethodPut || mx[1].auth != "Bearer syt_e2e" || mx[1].body["msgtype"] != "m.notice" ||
		!strings.HasPrefix(fmt.Sprint(mx[1].body["body"]), "CRITICAL web01 cpu_monitor.cpu_percent\n") ||
		!strings.HasPrefix(fmt.Sprint(mx[1].body["formatted_body"]), "<b>CRITICAL</b> <code>web01</code> <code>cpu_monitor.cpu_percent</code><br>") {
		t.Errorf("matrix request %+v", mx[1])
	}

	tg := svc.find("/bot")[0]
	if tg.method != http.MethodPost || tg.uri != "/bot123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs/sendMessage" ||
		tg.body["chat_id"] != "-1001234567890" || tg.body["parse_mode"] != "HTML" ||
		!strings.HasPrefix(fmt.Sprint(tg.body["text"]), "<b>CRITICAL</b> <code>web01</code> <code>cpu_monitor.cpu_percent</code>\n") {
		t.Errorf("telegram request %+v", tg)
	}

	nt := svc.ntfy()[0]
	if nt.method != http.MethodPost || nt.auth != "Bearer tk_e2e" || nt.body["topic"] != "hbd-e2e" ||
		nt.body["title"] != "CRITICAL web01 cpu_monitor.cpu_percent" || nt.body["priority"] != 5.0 {
		t.Errorf("ntfy request %+v", nt)
	}

	sl := svc.find("/services/")[0]
	if sl.method != http.MethodPost || sl.uri != "/services/T000/B000/XXXX" || sl.contentType != "application/json" ||
		!strings.HasPrefix(fmt.Sprint(sl.body["text"]), "*CRITICAL* `web01` `cpu_monitor.cpu_percent`\n") {
		t.Errorf("slack request %+v", sl)
	}
}

// ntfy returns the requests to the server's root, ntfy's JSON publish.
func (s *servicesServer) ntfy() []serviceRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []serviceRequest
	for _, r := range s.got {
		if r.uri == "/" {
			out = append(out, r)
		}
	}
	return out
}
