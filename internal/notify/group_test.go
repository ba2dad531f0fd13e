package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func member(host string) Notification {
	at := time.Unix(1711234567, 0)
	return Notification{Kind: KindProblem, Host: host, MetricPath: "heartbeat", Level: LevelCritical, PrevLevel: LevelOK,
		Since: at, Time: at, Message: "heartbeat OK -> CRITICAL: host DOWN"}
}

func TestGroupOfOneIsTheNotification(t *testing.T) {
	m := member("web01")
	if g := Group([]Notification{m}, nil); g.GroupSize != 0 || g.Host != "web01" || g.Message != m.Message {
		t.Fatalf("group of one %+v", g)
	}
}

func TestGroupListsItsHostsAndCapsTheList(t *testing.T) {
	var ms []Notification
	for i := range MaxListed + 20 {
		ms = append(ms, member(fmt.Sprintf("h%03d", i)))
	}
	ms[5].Since = ms[5].Since.Add(-time.Minute)
	g := Group(ms, nil)
	if g.GroupSize != MaxListed+20 || g.Host != "120 hosts" || !g.Since.Equal(ms[5].Since) || len(g.Members) != MaxListed+20 {
		t.Fatalf("group %+v", g)
	}
	if !strings.HasPrefix(g.Message, "120 hosts: heartbeat OK -> CRITICAL: host DOWN: h000, h001") || !strings.HasSuffix(g.Message, "h099 and 20 more") {
		t.Errorf("message %q", g.Message)
	}
	var body struct {
		Kind      string           `json:"kind"`
		Host      string           `json:"host"`
		GroupSize int              `json:"group_size"`
		Hosts     []string         `json:"hosts"`
		Alerts    []map[string]any `json:"alerts"`
	}
	b, _ := g.MarshalJSON()
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if body.Kind != KindProblem || body.GroupSize != 120 || len(body.Hosts) != MaxListed || len(body.Alerts) != MaxListed || body.Alerts[3]["host"] != "h003" {
		t.Errorf("body %s", b)
	}
	mail := string(emailBody(g))
	if !strings.Contains(mail, "h007: heartbeat OK -> CRITICAL") || !strings.Contains(mail, "... and 20 more") {
		t.Errorf("mail body %q", mail)
	}
}

func TestMassOutageSaysWhetherIngestReceives(t *testing.T) {
	ms := []Notification{member("a"), member("b"), member("c")}
	g := Group(ms, &Outage{Hosts: 3, WereUp: 4, Window: "30s", Receiving: false})
	if !strings.HasPrefix(g.Message, "mass outage: 3 of 4 hosts stopped reporting within 30s; the daemon received nothing") {
		t.Errorf("message %q", g.Message)
	}
	g = Group(ms, &Outage{Hosts: 3, WereUp: 4, Window: "30s", Receiving: true})
	if !strings.Contains(g.Message, "still receives from other hosts") {
		t.Errorf("message %q", g.Message)
	}
	b, _ := g.MarshalJSON()
	if !strings.Contains(string(b), `"outage":{"hosts":3,"were_up":4,"ingest_receiving":true}`) {
		t.Errorf("body %s", b)
	}
	rec := ms
	for i := range rec {
		rec[i].Kind, rec[i].Level, rec[i].PrevLevel = KindRecovery, LevelOK, LevelCritical
	}
	if g := Group(rec, &Outage{Hosts: 3, WereUp: 10, Window: "5s", Receiving: true}); !strings.HasPrefix(g.Message, "mass recovery: 3 of 10 hosts reporting again within 5s") {
		t.Errorf("recovery message %q", g.Message)
	}
}
