package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// Matrix's client-server API: PUT
// /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId} with the
// access token as a bearer token, the room id percent-encoded, and a
// transaction id of its own per notification.
func TestMatrixRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, answerOK)
	m, err := NewMatrix(MatrixConfig{Name: "ops-room", APIURL: srv.URL, AccessToken: "syt_secret", Room: "!AbC/d?e:example.org"})
	m = closing(t, m, err)
	n := nastyNotification()
	if err := m.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := next(t, reqs)
	prefix := "/_matrix/client/v3/rooms/%21AbC%2Fd%3Fe%3Aexample.org/send/m.room.message/"
	txn := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + `(hbd-[0-9a-f]{32})$`).FindStringSubmatch(r.requestURI)
	if r.method != http.MethodPut || txn == nil {
		t.Fatalf("request %s %s, want PUT %s<txn id>", r.method, r.requestURI, prefix)
	}
	for k, v := range map[string]string{"Authorization": "Bearer syt_secret", "Content-Type": "application/json"} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	want := map[string]string{
		"msgtype": "m.notice",
		"body": "CRITICAL db_1*<b>&\"x\" disk_monitor._root_.`percent`\n" +
			"*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line",
		"format": "org.matrix.custom.html",
		"formatted_body": "<b>CRITICAL</b> <code>db_1*&lt;b&gt;&amp;&#34;x&#34;</code> <code>disk_monitor._root_.`percent`</code><br>" +
			"*bold* _it_ ~del~ &lt;!channel&gt; @here &lt;script&gt;alert(1)&lt;/script&gt; &amp; done second line",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s =\n%q\nwant\n%q", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body has fields %v, want %d", body, len(want))
	}

	// The same notification again is the same transaction (a retry);
	// the next event of the alert is a new one.
	if err := m.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if again := next(t, reqs); again.requestURI != r.requestURI {
		t.Errorf("resend of one notification went to %s, want %s", again.requestURI, r.requestURI)
	}
	n.Time = n.Time.Add(time.Minute)
	n.NotificationCount++
	if err := m.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if later := next(t, reqs); later.requestURI == r.requestURI {
		t.Errorf("a later notification reused transaction %s", txn[1])
	}
}

func TestNewMatrixErrors(t *testing.T) {
	for _, c := range []MatrixConfig{
		{AccessToken: "t", Room: "!r:x"},
		{APIURL: "http://127.0.0.1", Room: "!r:x"},
		{APIURL: "http://127.0.0.1", AccessToken: "t", Room: "#alias:x"},
	} {
		if m, err := NewMatrix(c); err == nil {
			m.Close()
			t.Errorf("NewMatrix(%+v) = nil error", c)
		}
	}
}
