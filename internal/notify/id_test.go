package notify

import (
	"context"
	"testing"
	"time"
)

func TestNotificationIDStableAndDistinct(t *testing.T) {
	base := testNotification()
	same := base
	same.Time = base.Time.Add(time.Minute) // another sender's clock, or a later send
	same.Message = "worded otherwise"
	if base.ID() != same.ID() {
		t.Errorf("the same transition got two IDs: %s, %s", base.ID(), same.ID())
	}
	if len(base.ID()) != 32 {
		t.Errorf("ID %q: want 32 hex digits", base.ID())
	}
	for name, edit := range map[string]func(*Notification){
		"host":  func(n *Notification) { n.Host = "web02" },
		"path":  func(n *Notification) { n.MetricPath = "heartbeat" },
		"level": func(n *Notification) { n.Level = LevelWarning },
		"prev":  func(n *Notification) { n.PrevLevel = LevelOK },
		"since": func(n *Notification) { n.Since = n.Since.Add(time.Second) },
		"kind":  func(n *Notification) { n.Kind = KindRecovery },
		"split": func(n *Notification) { n.Host, n.MetricPath = "web01cpu_monitor", ".cpu_percent" },
	} {
		n := base
		edit(&n)
		if n.ID() == base.ID() {
			t.Errorf("%s changed, ID did not", name)
		}
	}
	r1, r2 := base, base
	r1.Kind, r2.Kind = KindRepeat, KindRepeat
	r2.NotificationCount++
	if r1.ID() == r2.ID() {
		t.Error("two repeats of one alert share an ID")
	}
	g := Group([]Notification{base, same}, nil)
	if g.ID() == base.ID() {
		t.Error("a group has its member's ID")
	}
}

func TestWebhookSendsNotificationID(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(200))
	w := newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})
	n := testNotification()
	for range 2 {
		if err := w.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		if got := (<-reqs).header.Get(IDHeader); got != n.ID() {
			t.Errorf("%s = %q, want %q", IDHeader, got, n.ID())
		}
	}
	// A configured header wins, as every configured header does.
	srv2, reqs2 := newRecordingServer(t, always(200))
	w2 := newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv2.URL, Headers: map[string]string{IDHeader: "fixed"}})
	if err := w2.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got := (<-reqs2).header.Get(IDHeader); got != "fixed" {
		t.Errorf("configured %s = %q, want fixed", IDHeader, got)
	}
}
